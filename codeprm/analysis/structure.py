"""Structure of source texts the step engine needs: enclosing definitions and imports.

Both are computed with tree-sitter (error-tolerant: an agent's half-finished edit still
parses) and cached by the sha256 of the text, so unchanged files are never re-parsed.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import tree_sitter

from codeprm.selectors.modules import module_name
from codeprm.selectors.outline import new_parser, outline_of, python_language
from codeprm.selectors.position_encoding import LineTable
from codeprm.types import Position

_IMPORT_QUERY = """
(import_statement name: [(dotted_name) @module (aliased_import name: (dotted_name) @module)])
(import_from_statement module_name: [(dotted_name) @from (relative_import) @relative])
(import_from_statement module_name: (relative_import) @base
  name: [(dotted_name) @member (aliased_import name: (dotted_name) @member)])
(import_from_statement module_name: (dotted_name) @base
  name: [(dotted_name) @member (aliased_import name: (dotted_name) @member)])
"""


@lru_cache(maxsize=1024)  # a step hashes each text of the snapshot several times
def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def sha256_text(text: str) -> str:
    """The hex sha256 of text's UTF-8 (surrogates passed), remembered for recent texts."""
    return _sha(text)


_TREES = threading.local()


def _python_tree(sha: str, data: bytes) -> tree_sitter.Tree:
    """The tree-sitter parse of Python ``data`` (whose sha256 is sha).

    The outline, imports and surface of a new text (the state after a step) are each
    computed once, in one thread, one after the other: they share its parse. The last few
    trees are kept per thread (a tree is not to be read by two threads at once).
    """
    trees: dict[str, tree_sitter.Tree] = _TREES.__dict__.setdefault("trees", {})
    tree = trees.get(sha)
    if tree is None:
        tree = new_parser().parse(data)
        if len(trees) >= 4:
            trees.pop(next(iter(trees)))
        trees[sha] = tree
    return tree


@dataclass(frozen=True)
class Def:
    """One definition: byte span, qualified name, where its name starts, class or function."""

    start: int
    end: int
    qualname: str
    name_start: int
    kind: str


@lru_cache(maxsize=4096)
def _outline(sha: str, text: str, grammar: str = "python") -> tuple[Def, ...]:
    data = text.encode("utf-8", "surrogatepass")
    if grammar == "python":
        outline = outline_of(data, new_parser(), _python_tree(sha, data))
    elif grammar in ("typescript", "tsx", "javascript"):
        from codeprm.selectors.tsoutline import outline_of_ts

        outline = outline_of_ts(
            data, {"typescript": "a.ts", "tsx": "a.tsx", "javascript": "a.js"}[grammar]
        )
    else:
        return ()
    return tuple(
        Def(d.span[0], d.span[1], d.qualname, d.name_span[0], d.kind) for d in outline.definitions
    )


def grammar_of(path: str | None) -> str:
    """Which outline a file gets: TypeScript, TSX or JavaScript by suffix, none for C and
    C++ (no grammar yet), Python for everything else (and when no path is given)."""
    if path is None or path.endswith((".py", ".pyi")):
        return "python"
    from codeprm.languages import C
    from codeprm.selectors.tsoutline import grammar_of as ts_grammar
    from codeprm.selectors.tsoutline import is_ts_path

    if is_ts_path(path):
        return ts_grammar(path)
    return "none" if path.endswith(C.suffixes) else "python"


def definitions(text: str, path: str | None = None) -> tuple[Def, ...]:
    """Every class and function definition of text, in source order (cached by content).

    The grammar follows ``path``'s suffix (Python without one)."""
    return _outline(_sha(text), text, grammar_of(path))


def name_position(text: str, position: Position, path: str | None = None) -> Position | None:
    """Where the name of the innermost definition starting at or around position is."""
    table = LineTable(text)
    offset = table.offset_to_byte(table.position_to_offset(position, "utf-16"))
    best = None
    for d in definitions(text, path):
        if d.start <= offset < d.end and (best is None or d.end - d.start < best[0]):
            best = (d.end - d.start, d.name_start)
    return None if best is None else table.byte_to_position(best[1], "utf-16")


def enclosing(text: str, positions: Iterable[Position], path: str | None = None) -> list[str]:
    """Qualified name of the innermost definition around each utf-16 position ("" = module)."""
    defs = [(d.start, d.end, d.qualname) for d in definitions(text, path)]
    table = LineTable(text)
    out = []
    for pos in positions:
        try:
            offset = table.offset_to_byte(table.position_to_offset(pos, "utf-16"))
        except (ValueError, IndexError):
            out.append("")
            continue
        best = ""
        best_len = None
        for start, end, qualname in defs:
            if start <= offset < end and (best_len is None or end - start < best_len):
                best, best_len = qualname, end - start
        out.append(best)
    return out


def _resolve_relative(dots: int, tail: str, importer: str, is_package: bool) -> str | None:
    parts = importer.split(".")
    base = parts if is_package else parts[:-1]
    if dots - 1 > len(base):
        return None
    base = base[: len(base) - (dots - 1)]
    full = ".".join([*base, tail] if tail else base)
    return full or None


@lru_cache(maxsize=4096)
def _imports(sha: str, text: str, path: str) -> frozenset[str]:
    tree = _python_tree(sha, text.encode("utf-8", "surrogatepass"))
    query = tree_sitter.Query(python_language(), _IMPORT_QUERY)
    me = module_name(path) or ""
    is_package = path.endswith(("__init__.py", "__init__.pyi"))
    found: set[str] = set()
    for _, captures in tree_sitter.QueryCursor(query).matches(tree.root_node):

        def texts(name: str, captures: dict[str, list[tree_sitter.Node]] = captures) -> list[str]:
            return [
                n.text.decode("utf-8", "replace")
                for n in captures.get(name, [])
                if n.text is not None
            ]

        found.update(texts("module") + texts("from"))
        for rel in texts("relative"):
            dots = len(rel) - len(rel.lstrip("."))
            resolved = _resolve_relative(dots, rel.lstrip("."), me, is_package) if me else None
            if resolved:
                found.add(resolved)
        for base in texts("base"):
            if base.startswith("."):
                dots = len(base) - len(base.lstrip("."))
                resolved_base = (
                    _resolve_relative(dots, base.lstrip("."), me, is_package) if me else None
                )
            else:
                resolved_base = base
            if resolved_base:
                found.update(f"{resolved_base}.{m}" for m in texts("member"))
    return frozenset(found)


def imports(text: str, path: str) -> frozenset[str]:
    """Modules a file imports, relative imports resolved (``from a import b`` adds a and a.b)."""
    return _imports(_sha(text), text, path)


def importers(texts: Mapping[str, str], changed: Iterable[str]) -> set[str]:
    """Files (workspace-relative) that import any module among the changed paths.

    Python by module name; TypeScript / JavaScript by relative specifiers resolved to
    workspace files (``selectors.tsoutline``: import, export-from, require, import());
    C by ``#include "..."`` relative to the including file or the root. A file importing
    an importer is not followed (as for Python: the server checks what the cover holds).
    """
    changed = list(changed)
    # a pure function of the snapshot and the paths: a step asks it three times (the cover
    # before and after, the guard), a warm daemon the same snapshot before again
    key = (tuple(sorted((p, _sha(t)) for p, t in texts.items())), tuple(changed))
    known = _IMPORTERS.get(key)
    if known is None:
        known = frozenset(_importers(texts, changed))
        with _IMPORTERS_LOCK:
            if len(_IMPORTERS) >= 32:
                _IMPORTERS.pop(next(iter(_IMPORTERS)), None)
            _IMPORTERS[key] = known
    return set(known)


_IMPORTERS: dict[tuple[tuple[tuple[str, str], ...], tuple[str, ...]], frozenset[str]] = {}
_IMPORTERS_LOCK = threading.Lock()


def _importers(texts: Mapping[str, str], changed: list[str]) -> set[str]:
    out = _foreign_importers(texts, [p for p in changed if not p.endswith((".py", ".pyi"))])
    targets = {m for m in (module_name(p) for p in changed) if m}
    if not targets:
        return out
    for path, text in texts.items():
        mods = imports(text, path)
        if any(m in targets or any(m.startswith(t + ".") for t in targets) for m in mods):
            out.add(path)
    return out


@lru_cache(maxsize=4096)
def _ts_imports(sha: str, text: str, path: str) -> tuple[str, ...]:
    from codeprm.selectors.tsoutline import import_specifiers

    return tuple(import_specifiers(text.encode("utf-8", "surrogatepass"), path))


_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.M)


def _foreign_importers(texts: Mapping[str, str], changed: list[str]) -> set[str]:
    from codeprm.selectors.tsoutline import is_ts_path, resolve_specifier

    if not changed:
        return set()
    wanted = set(changed)
    paths = frozenset(texts) | wanted
    out = set()
    for path, text in texts.items():
        if text.startswith("\0"):  # a commit range's token for a non-text file
            continue
        if is_ts_path(path) and any(p for p in wanted if is_ts_path(p)):
            for spec in _ts_imports(_sha(text), text, path):
                if resolve_specifier(path, spec, paths) in wanted:
                    out.add(path)
                    break
        elif path.endswith((".c", ".h", ".cc", ".cpp", ".cxx", ".hh", ".hpp")):
            base = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
            for inc in _INCLUDE.findall(text):
                if base + inc in wanted or inc in wanted:
                    out.add(path)
                    break
    return out


# -- what other modules can see of a module ----------------------------------------------------
#: Statements in a body that can declare names outside it (module globals, instance attributes).
_ESCAPING = frozenset({"global_statement", "nonlocal_statement"})
_TARGET_HOLDERS = {
    "assignment": "left",
    "augmented_assignment": "left",
    "for_statement": "left",
    "for_in_clause": "left",
}


def _has_attribute(node: tree_sitter.Node) -> bool:
    if node.type == "attribute":
        return True
    return any(_has_attribute(c) for c in node.named_children)


def _opaque(body: tree_sitter.Node, method: bool) -> bool:
    """Whether a body with a declared return type is invisible to other modules.

    It is not when it declares names elsewhere: ``global`` / ``nonlocal`` anywhere in it,
    or (in a method) an assignment to an attribute, which declares an instance attribute.
    """
    stack = [body]
    while stack:
        node = stack.pop()
        if node.type in _ESCAPING:
            return False
        if method:
            field_name = _TARGET_HOLDERS.get(node.type)
            target = node.child_by_field_name(field_name) if field_name else None
            if target is not None and _has_attribute(target):
                return False
            if node.type == "as_pattern_target" and _has_attribute(node):
                return False
        stack.extend(node.named_children)
    return True


@lru_cache(maxsize=4096)
def _surface(sha: str, text: str) -> str:
    data = text.encode("utf-8", "surrogatepass")
    tree = _python_tree(sha, data)
    if tree.root_node.has_error:  # a half-finished edit: no claim about what it hides
        return text
    cuts: list[tuple[int, int]] = []

    def visit(node: tree_sitter.Node, in_class: bool) -> None:
        for child in node.named_children:
            if child.type == "function_definition":
                body = child.child_by_field_name("body")
                if (
                    body is not None
                    and child.child_by_field_name("return_type") is not None
                    and _opaque(body, in_class)
                ):
                    cuts.append((body.start_byte, body.end_byte))
                # a body that is not cut is kept whole (its nested definitions included)
            elif child.type == "class_definition":
                body = child.child_by_field_name("body")
                if body is not None:
                    visit(body, True)
            else:
                visit(child, in_class)

    visit(tree.root_node, False)
    if not cuts:
        return text
    parts, last = [], 0
    for start, end in cuts:
        parts.append(data[last:start])
        parts.append(b"...")
        last = end
    parts.append(data[last:])
    return b"".join(parts).decode("utf-8", "surrogatepass")


def surface(text: str) -> str:
    """What other modules' diagnostics can depend on: the text without opaque function bodies.

    The body of a function with a declared return type cannot change another module's
    diagnostics (its type is its signature), unless it declares names outside itself
    (``global``, ``nonlocal``, or instance attributes assigned in a method); such bodies,
    and those of unannotated functions (whose inferred return type depends on the body),
    are kept. Two texts with the same surface give every importer the same diagnostics
    (``tests/e2e/test_warm_step.py`` checks this against full re-checks).
    """
    return _surface(_sha(text), text)


def surfaces_digest(texts: Mapping[str, str]) -> str:
    """sha256 over (path, sha256(surface)) of a snapshot: equal digests, equal cross-file facts.

    Files that are not Python (configuration) count with their whole text.
    """
    h = hashlib.sha256()
    for path in sorted(texts):
        text = texts[path]
        seen = surface(text) if path.endswith((".py", ".pyi")) else text
        h.update(f"{path}\0{_sha(seen)}\n".encode())
    return "sha256:" + h.hexdigest()
