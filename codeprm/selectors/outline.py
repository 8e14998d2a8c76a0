"""The definitions of one Python text, found with tree-sitter: names, kinds and byte spans.

Classes and functions at any depth (nested in classes, functions, ``if``/``try``
blocks), with their decorators, ``@overload`` flag, property accessor role
(getter/setter/deleter), signature shape and the byte spans of the roles a selector can
name: ``def`` (decorators to end of body), ``sig`` (header up to its ``:``), ``body``
(the block) and ``doc`` (the docstring literal). Spans are UTF-8 byte offsets as
tree-sitter reports them; ``codeprm.selectors.position_encoding`` converts them.
Pure: no IO. Knows nothing of workspaces or selectors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import tree_sitter
import tree_sitter_python

Span = tuple[int, int]
AccessorRole = Literal["getter", "setter", "deleter"]
_WS = re.compile(rb"\s+")
_DEF_TYPES = ("function_definition", "class_definition")
_DOC_TYPES = ("string", "concatenated_string")
_GETTER_DECORATORS = frozenset({"property", "abc.abstractproperty", "abstractproperty"})


@dataclass(frozen=True, slots=True)
class Definition:
    """One class or function definition."""

    qualname: str
    kinds: tuple[str, ...]  # "class" | "function" for each segment of qualname
    decorators: tuple[str, ...]  # decorator expressions without '@' and whitespace
    overload: bool
    accessor: AccessorRole | None  # for property accessors
    shape: str
    span: Span
    sig: Span
    body: Span
    doc: Span | None
    name_span: Span

    @property
    def name(self) -> str:
        return self.qualname.rpartition(".")[2]

    @property
    def kind(self) -> str:
        return self.kinds[-1]

    @property
    def role_tag(self) -> str:
        """What tells same-named definitions apart in a symbol id."""
        if self.accessor:
            return self.accessor
        return "overload" if self.overload else ""


@dataclass(frozen=True, slots=True)
class Outline:
    """All definitions of a text in source order, and the module docstring span."""

    definitions: tuple[Definition, ...]
    module_doc: Span | None
    has_errors: bool


@lru_cache(maxsize=1)
def python_language() -> tree_sitter.Language:
    return tree_sitter.Language(tree_sitter_python.language())


@lru_cache(maxsize=1)
def _definition_query() -> tree_sitter.Query:
    return tree_sitter.Query(python_language(), "[(function_definition) (class_definition)] @d")


def new_parser() -> tree_sitter.Parser:
    """A tree-sitter parser for Python (not thread-safe: one per index)."""
    return tree_sitter.Parser(python_language())


def _squash(node: tree_sitter.Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return _WS.sub(b"", node.text).decode("utf-8", "replace")


def _docstring(block: tree_sitter.Node | None) -> Span | None:
    if block is None:
        return None
    for child in block.named_children:
        if child.type == "comment":
            continue
        if child.type == "expression_statement" and child.named_child_count == 1:
            lit = child.named_children[0]
            if lit.type in _DOC_TYPES:
                return (lit.start_byte, lit.end_byte)
        return None
    return None


def signature_shape(node: tree_sitter.Node) -> str:
    """Parameter names, kinds and annotations, without defaults, whitespace or comments."""
    if node.type == "class_definition":
        return "class"
    params = node.child_by_field_name("parameters")
    parts: list[str] = []
    for p in params.named_children if params is not None else ():
        if p.type == "comment":
            continue
        if p.type in ("default_parameter", "typed_default_parameter"):
            value = p.child_by_field_name("value")
            raw = p.text or b""
            if value is not None:
                raw = raw[: value.start_byte - p.start_byte]
            parts.append(_WS.sub(b"", raw).decode("utf-8", "replace"))
        else:
            parts.append(_squash(p))
    is_async = node.child_count > 0 and node.children[0].type == "async"
    ret = _squash(node.child_by_field_name("return_type"))
    return (
        ("async " if is_async else "")
        + "def("
        + ",".join(parts)
        + ")"
        + ("->" + ret if ret else "")
    )


def _accessor(name: str, decorators: tuple[str, ...]) -> AccessorRole | None:
    for dec in decorators:
        if dec in _GETTER_DECORATORS or dec == f"{name}.getter":
            return "getter"
        if dec == f"{name}.setter":
            return "setter"
        if dec == f"{name}.deleter":
            return "deleter"
    return None


def _header_end(node: tree_sitter.Node, body: tree_sitter.Node | None) -> int:
    end = node.end_byte
    limit = body.start_byte if body is not None else node.end_byte
    for child in node.children:
        if child.start_byte >= limit:
            break
        if child.type == ":":
            end = child.end_byte
    return end


def outline_of(
    source: bytes, parser: tree_sitter.Parser, tree: tree_sitter.Tree | None = None
) -> Outline:
    """The Outline of UTF-8 ``source`` (``tree``: its parse, when the caller has it)."""
    if tree is None:
        tree = parser.parse(source)
    root = tree.root_node
    nodes = tree_sitter.QueryCursor(_definition_query()).captures(root).get("d", [])
    nodes.sort(key=lambda n: (n.start_byte, -n.end_byte))
    stack: list[tuple[int, str, str]] = []  # (end byte, name, kind) of enclosing definitions
    out: list[Definition] = []
    for node in nodes:
        name_node = node.child_by_field_name("name")
        if name_node is None or not name_node.text:
            continue
        name = name_node.text.decode("utf-8", "replace")
        while stack and stack[-1][0] <= node.start_byte:
            stack.pop()
        kind = "class" if node.type == "class_definition" else "function"
        outer = (
            node.parent
            if node.parent is not None and node.parent.type == "decorated_definition"
            else node
        )
        decorators = (
            tuple(
                _squash(d.named_children[0]) if d.named_child_count else ""
                for d in outer.children
                if d.type == "decorator"
            )
            if outer is not node
            else ()
        )
        body = node.child_by_field_name("body")
        out.append(
            Definition(
                qualname=".".join([*(s[1] for s in stack), name]),
                kinds=(*(s[2] for s in stack), kind),
                decorators=decorators,
                overload=any(d == "overload" or d.endswith(".overload") for d in decorators),
                accessor=_accessor(name, decorators) if kind == "function" else None,
                shape=signature_shape(node),
                span=(outer.start_byte, outer.end_byte),
                sig=(node.start_byte, _header_end(node, body)),
                body=(body.start_byte, body.end_byte)
                if body is not None
                else (node.end_byte, node.end_byte),
                doc=_docstring(body),
                name_span=(name_node.start_byte, name_node.end_byte),
            )
        )
        stack.append((node.end_byte, name, kind))
    return Outline(tuple(out), _docstring(root), root.has_error)
