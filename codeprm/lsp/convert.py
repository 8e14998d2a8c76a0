"""Translation between lsprotocol types and codeprm.types; nothing else knows LSP types."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp

from codeprm.types import Diagnostic, Hover, Location, Position, Range, Severity, Symbol

_SEVERITY: dict[int, Severity] = {1: "error", 2: "warning", 3: "information", 4: "hint"}


def path_to_uri(path: Path) -> str:
    return path.as_uri()


def uri_to_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    return Path(unquote(parsed.path))


class PathMapper:
    """Maps server URIs to workspace-relative POSIX paths (or keeps outside URIs)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def rel(self, uri: str) -> str:
        path = uri_to_path(uri)
        if path is None:
            return uri
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return uri

    def uri(self, rel_or_abs: str | Path) -> str:
        path = Path(rel_or_abs)
        if not path.is_absolute():
            path = self.root / path
        return path_to_uri(path)


def position(p: lsp.Position) -> Position:
    return Position(p.line, p.character)


def range_(r: lsp.Range) -> Range:
    return Range(position(r.start), position(r.end))


def to_lsp_position(p: Position) -> lsp.Position:
    return lsp.Position(line=p.line, character=p.character)


def to_lsp_range(r: Range) -> lsp.Range:
    return lsp.Range(start=to_lsp_position(r.start), end=to_lsp_position(r.end))


_SEVERITY_BACK = {v: k for k, v in _SEVERITY.items()}


def to_lsp_diagnostic(d: Diagnostic) -> lsp.Diagnostic:
    return lsp.Diagnostic(
        range=to_lsp_range(d.range),
        message=d.message,
        severity=lsp.DiagnosticSeverity(_SEVERITY_BACK[d.severity]),
        code=_wire_code(d.code),
        source=d.source,
    )


def _wire_code(code: str | None) -> int | str | None:
    """A diagnostic code as the server sent it: ``diagnostic`` keeps codes as strings, but
    LSP codes are ``integer | string`` and servers match their own fixes by value (the
    TypeScript server offers no quick fix for code "2304", only for 2304)."""
    if code is not None and code.isascii() and code.isdigit() and str(int(code)) == code:
        return int(code)
    return code


def prepare_rename_range(result: Any, pos: Position) -> Range | None:
    """Any prepareRename result shape -> the range to rename (None: not renamable)."""
    if result is None:
        return None
    if isinstance(result, lsp.Range):
        return range_(result)
    if isinstance(result, lsp.PrepareRenamePlaceholder):
        return range_(result.range)
    if isinstance(result, lsp.PrepareRenameDefaultBehavior):
        return Range(pos, pos) if result.default_behavior else None
    return None


def location(mapper: PathMapper, loc: lsp.Location | lsp.LocationLink) -> Location:
    if isinstance(loc, lsp.LocationLink):
        return Location(mapper.rel(loc.target_uri), range_(loc.target_selection_range))
    return Location(mapper.rel(loc.uri), range_(loc.range))


def locations(mapper: PathMapper, result: Any) -> list[Location]:
    """Any definition/references result shape -> a totally ordered, de-duplicated list."""
    if result is None:
        return []
    items: Iterable[Any] = result if isinstance(result, Sequence) else [result]
    out = {location(mapper, item) for item in items}
    return sorted(out, key=Location.sort_key)


def diagnostic(rel_path: str, d: lsp.Diagnostic) -> Diagnostic:
    severity = _SEVERITY.get(int(d.severity) if d.severity is not None else 1, "error")
    code = None if d.code is None else str(d.code)
    return Diagnostic(
        path=rel_path,
        range=range_(d.range),
        severity=severity,
        message=d.message,
        code=code,
        source=d.source,
    )


def diagnostics(rel_path: str, items: Sequence[lsp.Diagnostic]) -> list[Diagnostic]:
    """Server diagnostics for one document, hints dropped, totally ordered."""
    out = [diagnostic(rel_path, d) for d in items]
    return sorted((d for d in out if d.severity != "hint"), key=Diagnostic.sort_key)


def _markup(contents: Any) -> str:
    if isinstance(contents, lsp.MarkupContent):
        return contents.value
    if isinstance(contents, lsp.MarkedStringWithLanguage):
        return f"```{contents.language}\n{contents.value}\n```"
    if isinstance(contents, str):
        return contents
    if isinstance(contents, Sequence):
        return "\n\n".join(_markup(c) for c in contents)
    return str(contents)


def hover(h: lsp.Hover | None) -> Hover | None:
    if h is None:
        return None
    return Hover(contents=_markup(h.contents), range=range_(h.range) if h.range else None)


def _symbol_kind(kind: lsp.SymbolKind) -> str:
    return lsp.SymbolKind(kind).name.lower()


def symbols(result: Any) -> list[Symbol]:
    """Hierarchical document symbols, ordered by range then name at every level."""
    if not result:
        return []

    def one(s: Any) -> Symbol:
        if isinstance(s, lsp.SymbolInformation):
            r = range_(s.location.range)
            return Symbol(name=s.name, kind=_symbol_kind(s.kind), range=r, selection_range=r)
        children = tuple(sorted((one(c) for c in (s.children or ())), key=_symbol_key))
        return Symbol(
            name=s.name,
            kind=_symbol_kind(s.kind),
            range=range_(s.range),
            selection_range=range_(s.selection_range),
            detail=s.detail or None,
            children=children,
        )

    return sorted((one(s) for s in result), key=_symbol_key)


def _symbol_key(s: Symbol) -> tuple[Any, ...]:
    return (*s.range.sort_key(), s.name, s.kind)
