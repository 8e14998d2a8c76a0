"""The library entry point: ``resolve(selector, index)`` -> Resolution (0-based utf-16 range).

Cursor and range selectors are positions: 1-based lines and columns in the ``index_io``
unit, validated against the file (a line beyond the end, a column beyond the line end or
inside a character, or a missing file is ``NotFoundError``). With an older docVersion
the index remembers, their lines are carried through a line diff when those lines are
unchanged; otherwise they cannot be honoured (``VersionSkewError``).

Symbol and AST selectors go to ``codeprm.selectors.symbols`` (an AST path whose module
is a file path, ``ast://[module=src/a.ts]/...``, to ``codeprm.selectors.pathsymbols``);
anchors are matched exactly, then relocated (``codeprm.selectors.relocate``) and scored
(``codeprm.selectors.scoring``). Pure: reads only the index, never the disk directly
(a lazy index, or a non-Python file, may be read by the index on first use).
"""

from __future__ import annotations

from codeprm import safeio
from codeprm.errors import NotFoundError, UsageError, VersionSkewError
from codeprm.selectors.grammar import format_selector, parse_selector
from codeprm.selectors.index import IndexedFile, WorkspaceIndex
from codeprm.selectors.linemap import line_map
from codeprm.selectors.position_encoding import (
    INDEX_IO,
    ColumnError,
    IndexIO,
    LineTable,
    codepoints_to_units,
    text_units,
    units_to_codepoints,
)
from codeprm.selectors.relocate import context_window, exact_occurrences, fuzzy_regions
from codeprm.selectors.result import Resolution
from codeprm.selectors.scoring import TOP_K, Candidate, Reference, decide, exact, rank
from codeprm.selectors.spec import (
    AnchorSpec,
    AstPathSpec,
    CursorSpec,
    PositionSpec,
    RangeSpec,
    module_is_path,
)
from codeprm.selectors.symbols import resolve_definition, target_of
from codeprm.selectors.tokens import leading_kind, token_set
from codeprm.selectors.versions import VersionState, honour, version_state
from codeprm.types import Position, Range


def resolve(
    selector_or_text: str | PositionSpec, index: WorkspaceIndex, *, index_io: IndexIO = "utf-16"
) -> Resolution:
    """Resolve a selector string or PositionSpec against ``index``.

    Raises ``SelectorSyntaxError`` (2), ``NotFoundError`` (3), ``AmbiguousError`` (4) or
    ``VersionSkewError`` (10); ``index_io`` is the unit of cursor/range columns.
    """
    if index_io not in INDEX_IO:
        raise UsageError(f"unknown --index-io {index_io!r} (expected one of {', '.join(INDEX_IO)})")
    if isinstance(selector_or_text, str) and selector_or_text.startswith(("ts://", "js://")):
        from codeprm.selectors.pathsymbols import resolve_path_symbol

        return resolve_path_symbol(selector_or_text, index)
    spec = (
        parse_selector(selector_or_text) if isinstance(selector_or_text, str) else selector_or_text
    )
    selector = format_selector(spec)
    if isinstance(spec, CursorSpec | RangeSpec):
        return _resolve_position(spec, index, index_io, selector)
    if isinstance(spec, AnchorSpec):
        return _resolve_anchor(spec, index, selector)
    if (
        isinstance(spec, AstPathSpec)
        and module_is_path(spec.module)
        and ("/" in spec.module or index.file(spec.module) is not None)
    ):
        from codeprm.selectors.pathsymbols import resolve_ast_path

        return resolve_ast_path(spec, index, selector)
    t = target_of(spec)
    files = index.files_for_module(t.module)
    ver = version_state(index, t.version, [f.path for f in files], module=t.module)
    with honour(ver, selector):
        return resolve_definition(index, t, selector, spec.kind, ver)


def enclosing_symbol_id(f: IndexedFile, pos: Position) -> str | None:
    """The symbolId of the innermost definition of ``f`` containing ``pos``, if any."""
    if f.outline is None:
        return None
    try:
        byte = f.lines.offset_to_byte(f.lines.position_to_offset(pos))
    except ColumnError:
        return None
    best: str | None = None
    best_start = -1
    for i, d in enumerate(f.definitions):
        if d.span[0] <= byte < d.span[1] and d.span[0] >= best_start:
            best, best_start = f.symbol_ids[i], d.span[0]
    return best


def _point(
    lines: LineTable, line1: int, col1: int, index_io: IndexIO, path: str, selector: str
) -> Position:
    line = line1 - 1
    if line >= lines.line_count:
        raise NotFoundError(
            f"{selector}: line {line1} is beyond the end of {path} ({lines.line_count} lines)"
        )
    text = lines.line_text(line)
    try:
        cp = units_to_codepoints(text, col1 - 1, index_io)
    except ColumnError as err:
        width = text_units(text, index_io)
        why = (
            f"is beyond the end of the line (last column {width + 1})"
            if col1 - 1 > width
            else "falls inside a character"
        )
        raise NotFoundError(
            f"{selector}: column {col1} ({index_io}) of line {line1} of {path} {why}"
        ) from err
    return Position(line, codepoints_to_units(text, cp, "utf-16"))


def _existing_file(index: WorkspaceIndex, path: str, selector: str) -> IndexedFile:
    """The file a selector names, or why not: missing (3); a FIFO, loop, huge or binary file (2)."""
    f = index.file(path)
    if f is None:
        root = index.root
        found = safeio.problem(root / path) if root is not None else None
        if found is not None and not isinstance(found, NotFoundError):
            raise UsageError(f"{selector}: {path}: {found.one_line().split(': ', 1)[-1]}")
        raise NotFoundError(f"{selector}: no such file {path} in the workspace")
    if "\0" in f.text[:8192]:
        raise UsageError(f"{selector}: {path} looks like a binary file, not Python source")
    return f


def _resolve_position(
    spec: CursorSpec | RangeSpec, index: WorkspaceIndex, index_io: IndexIO, selector: str
) -> Resolution:
    f = _existing_file(index, spec.path, selector)
    ver = version_state(index, spec.version, [spec.path])
    if ver.state == "unknown":
        raise VersionSkewError(
            f"{selector}: docVersion {spec.version} is not the current text of {spec.path} "
            f"({f.sha256[:12]}) nor an earlier text this index remembers",
            details={"selector": selector, "docVersion": spec.version, "current": f.sha256},
        )
    if isinstance(spec, CursorSpec):
        points = ((spec.line, spec.column), (spec.line, spec.column))
    else:
        points = ((spec.start_line, spec.start_column), (spec.end_line, spec.end_column))
    if ver.state == "history" and ver.old_text is not None:
        old = LineTable(ver.old_text)
        start, end = (_point(old, ln, col, index_io, spec.path, selector) for ln, col in points)
        mapping = line_map(ver.old_text, f.text)
        new_lines = (mapping.exact(start.line), mapping.exact(end.line))
        if new_lines[0] is None or new_lines[1] is None:
            raise VersionSkewError(
                f"{selector}: the lines it names changed since docVersion {spec.version}",
                details={"selector": selector, "docVersion": spec.version, "current": f.sha256},
            )
        start = Position(new_lines[0], start.character)
        end = Position(new_lines[1], end.character)
    else:
        start, end = (_point(f.lines, ln, col, index_io, spec.path, selector) for ln, col in points)
    rng = Range(start, end)
    sid = enclosing_symbol_id(f, start)
    return Resolution(
        selector,
        spec.kind,
        spec.path,
        rng,
        1.0,
        sid,
        (exact(spec.path, rng, sid, selector),),
        version_check=ver.check_if_found,
    )


def _offsets_range(f: IndexedFile, start: int, end: int) -> Range:
    return Range(f.lines.offset_to_position(start), f.lines.offset_to_position(end))


def _range_label(path: str, rng: Range) -> str:
    s, e = rng.start, rng.end
    try:
        return format_selector(
            RangeSpec(path, s.line + 1, s.character + 1, e.line + 1, e.character + 1)
        )
    except ValueError:
        return path


def _anchor_reference(
    spec: AnchorSpec, f: IndexedFile, ver: VersionState
) -> tuple[Reference, bool]:
    kind = leading_kind(spec.snippet)
    if ver.state == "history" and ver.old_text is not None:
        old_occ = exact_occurrences(ver.old_text, spec.snippet)
        if len(old_occ) == 1:
            o = old_occ[0]
            tokens = token_set(context_window(ver.old_text, o, o + len(spec.snippet), spec.ctx))
            line = None
            if ver.old_path == f.path:
                old_line = LineTable(ver.old_text).offset_to_position(o).line
                line = line_map(ver.old_text, f.text).approx(old_line)
            return Reference(kind, f.module, f.path, tokens, line), True
    return Reference(kind, f.module, f.path, token_set(spec.snippet)), False


def _resolve_anchor(spec: AnchorSpec, index: WorkspaceIndex, selector: str) -> Resolution:
    ver = version_state(index, spec.version, [spec.path])
    with honour(ver, selector):
        f = _existing_file(index, spec.path, selector)
        occ = exact_occurrences(f.text, spec.snippet)
        if len(occ) == 1:
            rng = _offsets_range(f, occ[0], occ[0] + len(spec.snippet))
            sid = enclosing_symbol_id(f, rng.start)
            return Resolution(
                selector,
                "anchor",
                f.path,
                rng,
                1.0,
                sid,
                (exact(f.path, rng, sid, _range_label(f.path, rng)),),
                version_check=ver.check_if_found,
            )
        ref, with_context = _anchor_reference(spec, f, ver)
        if occ:
            spans = [(o, o + len(spec.snippet)) for o in occ]
        else:
            spans = [(r.start, r.end) for r in fuzzy_regions(f.text, spec.snippet, spec.ctx)]
        cands = []
        for s, e in spans:
            rng = _offsets_range(f, s, e)
            words = context_window(f.text, s, e, spec.ctx) if with_context else f.text[s:e]
            cands.append(
                Candidate(
                    f.path,
                    f.module,
                    leading_kind(f.text[s:e]),
                    token_set(words),
                    rng.start.line,
                    rng,
                    enclosing_symbol_id(f, rng.start),
                    _range_label(f.path, rng),
                )
            )
        ranked = rank(ref, cands)
        top = decide(ranked, what=selector)
        return Resolution(
            selector,
            "anchor",
            top.path,
            top.range,
            top.score,
            top.symbol_id,
            tuple(ranked[:TOP_K]),
            version_check=ver.check_if_found,
        )
