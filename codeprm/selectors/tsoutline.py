"""The definitions and imports of one TypeScript or JavaScript text, found with tree-sitter.

The same ``Outline`` as ``outline.py`` gives for Python: classes (and interfaces, enums,
namespaces) and functions (declarations, methods, and ``const f = () => ...`` /
``function`` expressions bound to a name), nested at any depth, with their spans. The
grammar follows the file's suffix: ``.ts/.mts/.cts`` TypeScript, ``.tsx`` TSX, every
JavaScript suffix the JavaScript grammar (which parses JSX). Pure: no IO.
"""

from __future__ import annotations

import re
from functools import lru_cache

import tree_sitter

from codeprm.selectors.outline import Definition, Outline

_WS = re.compile(rb"\s+")

_CLASS_TYPES = frozenset(
    {
        "class_declaration",
        "abstract_class_declaration",
        "class",
        "interface_declaration",
        "enum_declaration",
        "internal_module",
        "module",
    }
)
_FUNCTION_TYPES = frozenset(
    {
        "function_declaration",
        "generator_function_declaration",
        "method_definition",
        "abstract_method_signature",
        "method_signature",
        "function_signature",
    }
)
_FUNCTION_VALUES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function"}
)
_TS_SUFFIXES = (".ts", ".mts", ".cts")
_JS_SUFFIXES = (".js", ".mjs", ".cjs", ".jsx")


def is_ts_path(path: str) -> bool:
    return path.endswith((*_TS_SUFFIXES, ".tsx", *_JS_SUFFIXES))


@lru_cache(maxsize=4)
def language(grammar: str) -> tree_sitter.Language:
    if grammar == "javascript":
        import tree_sitter_javascript

        return tree_sitter.Language(tree_sitter_javascript.language())
    import tree_sitter_typescript

    return tree_sitter.Language(
        tree_sitter_typescript.language_tsx()
        if grammar == "tsx"
        else tree_sitter_typescript.language_typescript()
    )


def grammar_of(path: str) -> str:
    if path.endswith(".tsx"):
        return "tsx"
    if path.endswith(_TS_SUFFIXES):
        return "typescript"
    return "javascript"


def new_parser(path: str) -> tree_sitter.Parser:
    return tree_sitter.Parser(language(grammar_of(path)))


def _squash(node: tree_sitter.Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return _WS.sub(b"", node.text).decode("utf-8", "replace")


def _outer(node: tree_sitter.Node) -> tree_sitter.Node:
    """The statement a definition's span covers: its ``export`` (and ``const``) included."""
    out = node
    parent = node.parent
    if (
        node.type == "variable_declarator"
        and parent is not None
        and parent.type in ("lexical_declaration", "variable_declaration")
        and parent.named_child_count == 1
    ):
        out = parent
    if out.parent is not None and out.parent.type == "export_statement":
        out = out.parent
    return out


def _shape(node: tree_sitter.Node, fn: tree_sitter.Node | None) -> str:
    if fn is None:
        return "class"
    params = fn.child_by_field_name("parameters") or fn.child_by_field_name("parameter")
    ret = _squash(fn.child_by_field_name("return_type"))
    is_async = any(c.type == "async" for c in fn.children[:2])
    return (
        ("async " if is_async else "")
        + "function"
        + (_squash(params) or "()")
        + (ret if ret.startswith(":") else (":" + ret if ret else ""))
    )


def outline_of_ts(source: bytes, path: str) -> Outline:
    """The Outline of a UTF-8 TypeScript / JavaScript ``source`` (grammar by ``path``)."""
    tree = new_parser(path).parse(source)
    root = tree.root_node
    out: list[Definition] = []

    def visit(node: tree_sitter.Node, scope: list[tuple[str, str]]) -> None:
        for child in node.named_children:
            kind: str | None = None
            fn: tree_sitter.Node | None = None
            name_node = child.child_by_field_name("name")
            if child.type in _CLASS_TYPES:
                kind = "class"
            elif child.type in _FUNCTION_TYPES:
                kind, fn = "function", child
            elif child.type in (
                "variable_declarator",
                "public_field_definition",
                "field_definition",
            ):
                value = child.child_by_field_name("value")
                if value is not None and value.type in _FUNCTION_VALUES:
                    kind, fn = "function", value
                elif value is not None and value.type == "class":
                    kind = "class"
                if child.type == "field_definition" and name_node is None:
                    name_node = child.child_by_field_name("property")
            if (
                kind is None
                or name_node is None
                or not name_node.text
                or name_node.type
                not in (
                    "identifier",
                    "type_identifier",
                    "property_identifier",
                    "private_property_identifier",
                    "string",
                    "nested_identifier",
                )
            ):
                visit(child, scope)
                continue
            name = name_node.text.decode("utf-8", "replace").strip("'\"")
            outer = _outer(child)
            body = (fn or child).child_by_field_name("body")
            if body is None and child.type == "variable_declarator":
                value = child.child_by_field_name("value")
                body = value.child_by_field_name("body") if value is not None else None
            sig_end = body.start_byte if body is not None else child.end_byte
            out.append(
                Definition(
                    qualname=".".join([*(s[0] for s in scope), name]),
                    kinds=(*(s[1] for s in scope), kind),
                    decorators=(),
                    overload=child.type
                    in ("function_signature", "method_signature", "abstract_method_signature"),
                    accessor=_accessor(child),
                    shape=_shape(child, fn),
                    span=(outer.start_byte, outer.end_byte),
                    sig=(child.start_byte, sig_end),
                    body=(body.start_byte, body.end_byte)
                    if body is not None
                    else (child.end_byte, child.end_byte),
                    doc=None,
                    name_span=(name_node.start_byte, name_node.end_byte),
                )
            )
            visit(body if body is not None else child, [*scope, (name, kind)])

    visit(root, [])
    out.sort(key=lambda d: (d.span[0], -d.span[1]))
    return Outline(tuple(out), None, root.has_error)


def _accessor(node: tree_sitter.Node) -> str | None:
    if node.type != "method_definition":
        return None
    for c in node.children:
        if c.type == "get":
            return "getter"
        if c.type == "set":
            return "setter"
    return None  # type: ignore[return-value]


_IMPORT_QUERY = """
(import_statement source: (string) @spec)
(export_statement source: (string) @spec)
(call_expression function: (identifier) @fn arguments: (arguments . (string) @spec))
(call_expression function: (import) arguments: (arguments . (string) @spec))
"""


@lru_cache(maxsize=4)
def _import_query(grammar: str) -> tree_sitter.Query:
    return tree_sitter.Query(language(grammar), _IMPORT_QUERY)


def import_specifiers(source: bytes, path: str) -> list[str]:
    """Module specifiers a file imports: ``import``/``export ... from``, ``require()``,
    ``import()``."""
    grammar = grammar_of(path)
    tree = new_parser(path).parse(source)
    out = []
    for _, captures in tree_sitter.QueryCursor(_import_query(grammar)).matches(tree.root_node):
        fns = captures.get("fn", [])
        if fns and (fns[0].text or b"") != b"require":
            continue
        for node in captures.get("spec", []):
            text = (node.text or b"").decode("utf-8", "replace")
            if len(text) >= 2:
                out.append(text[1:-1])
    return out


#: what a relative specifier may name, tried in order (TypeScript's resolution, simplified)
_RESOLVE_SUFFIXES = ("", ".ts", ".tsx", ".d.ts", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")
_INDEX = (
    "/index.ts",
    "/index.tsx",
    "/index.d.ts",
    "/index.js",
    "/index.jsx",
    "/index.mjs",
    "/index.cjs",
)
_JS_TO_TS = {
    ".js": (".ts", ".tsx", ".d.ts"),
    ".jsx": (".tsx",),
    ".mjs": (".mts",),
    ".cjs": (".cts",),
}


def resolve_specifier(importer: str, spec: str, paths: set[str] | frozenset[str]) -> str | None:
    """The workspace file a relative specifier of ``importer`` names, among ``paths``."""
    if not spec.startswith((".", "/")):
        return None  # a package (or a path alias): not followed
    base = importer.rsplit("/", 1)[0] if "/" in importer else ""
    parts = [p for p in (base.split("/") if base else [])]
    for seg in spec.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(seg)
    stem = "/".join(parts)
    for suffix in _RESOLVE_SUFFIXES:
        if stem + suffix in paths:
            return stem + suffix
    for js, tss in _JS_TO_TS.items():  # "./a.js" names a.ts under node16 resolution
        if stem.endswith(js):
            for ts in tss:
                if stem[: -len(js)] + ts in paths:
                    return stem[: -len(js)] + ts
    for index in _INDEX:
        if stem + index in paths:
            return stem + index
    return None
