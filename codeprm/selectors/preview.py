"""Show resolved positions to people: 1-based positions in any unit and a few lines of source.

Pure: reads texts through the index only.
"""

from __future__ import annotations

from codeprm.selectors.index import WorkspaceIndex
from codeprm.selectors.position_encoding import IndexIO, LineTable, convert_column
from codeprm.selectors.result import Resolution
from codeprm.types import Position, Range

MAX_PREVIEW_RANGE_LINES = 8


def format_position(pos: Position, line_text: str, index_io: IndexIO = "utf-16") -> str:
    """``L<line>:C<column>``, 1-based, for a 0-based utf-16 ``pos`` on ``line_text``."""
    return f"L{pos.line + 1}:C{convert_column(line_text, pos.character, 'utf-16', index_io) + 1}"


def format_range(lines: LineTable, rng: Range, index_io: IndexIO = "utf-16") -> str:
    """``L<l>:C<c>-L<l>:C<c>`` (1-based, end exclusive) in ``index_io`` columns."""
    start = format_position(rng.start, lines.line_text(rng.start.line), index_io)
    end = format_position(rng.end, lines.line_text(rng.end.line), index_io)
    return start if rng.start == rng.end else f"{start}-{end}"


def preview(index: WorkspaceIndex, resolution: Resolution, context_lines: int = 1) -> str:
    """Numbered source lines around the resolved range; ``>`` marks lines in it.

    A one-line range gets a caret line under it; a long range is elided in the middle.
    """
    f = index.file(resolution.path)
    if f is None:
        return ""
    lines = f.lines
    start, end = resolution.range.start, resolution.range.end
    last_marked = end.line - 1 if end.line > start.line and end.character == 0 else end.line
    first = max(0, start.line - context_lines)
    last = min(lines.line_count - 1, last_marked + context_lines)
    width = len(str(last + 1))
    out: list[str] = []
    marked = range(start.line, last_marked + 1)
    skip_from = skip_to = -1
    if len(marked) > MAX_PREVIEW_RANGE_LINES:
        skip_from = start.line + MAX_PREVIEW_RANGE_LINES // 2
        skip_to = last_marked - MAX_PREVIEW_RANGE_LINES // 2 + 1
    for n in range(first, last + 1):
        if skip_from <= n < skip_to:
            if n == skip_from:
                out.append(f"  {'':>{width}} | ... ({skip_to - skip_from} more lines)")
            continue
        text = lines.line_text(n)
        out.append(f"{'>' if n in marked else ' '} {n + 1:>{width}} | {text}")
        if n == start.line and start.line == end.line:
            cp_start = convert_column(text, start.character, "utf-16", "codepoint")
            cp_end = convert_column(text, end.character, "utf-16", "codepoint")
            pad = "".join(c if c == "\t" else " " for c in text[:cp_start])
            out.append(f"  {'':>{width}} | {pad}{'^' * max(1, cp_end - cp_start)}")
    return "\n".join(out)
