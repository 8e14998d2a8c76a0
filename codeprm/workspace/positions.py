"""LSP positions to string offsets and LSP TextEdits applied to a text; pure, exact.

Lines end at ``\\r\\n``, ``\\n`` or ``\\r`` (the LSP's line terminators). A character
offset counts code units of the position encoding: UTF-16 (the LSP default, where a
character outside the BMP such as an emoji counts 2), UTF-8 or UTF-32. Positions are
strict: a line past the end, a character past the end of its line or one that splits a
character are ContentModifiedError (exit 74), because such an edit was computed on a
different text. Edits follow the LSP rules: ranges must not overlap, and inserts at the
same position keep their order in the array.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from codeprm.errors import ContentModifiedError, UsageError
from codeprm.types import Position, TextEdit

PositionEncoding = Literal["utf-16", "utf-8", "utf-32"]
POSITION_ENCODINGS: tuple[PositionEncoding, ...] = ("utf-16", "utf-8", "utf-32")

_LINE_BREAK = re.compile(r"\r\n|\n|\r")


class LineIndex:
    """Line starts and ends of one text, for repeated position lookups."""

    def __init__(self, text: str) -> None:
        self.text = text
        starts, ends = [0], []
        for m in _LINE_BREAK.finditer(text):
            ends.append(m.start())
            starts.append(m.end())
        ends.append(len(text))
        self._starts, self._ends = starts, ends

    @property
    def line_count(self) -> int:
        return len(self._starts)

    def offset(
        self, pos: Position, encoding: PositionEncoding = "utf-16", *, path: str = ""
    ) -> int:
        """The string offset of ``pos``. Raises ContentModifiedError when it is not in the text."""
        if encoding not in POSITION_ENCODINGS:
            raise UsageError(f"unknown position encoding {encoding!r}")
        if pos.line < 0 or pos.character < 0:
            raise UsageError(f"negative position {pos.line}:{pos.character}")
        if pos.line >= len(self._starts):
            raise _stale(
                path, pos, f"line {pos.line} is past the last line ({len(self._starts) - 1})"
            )
        start, end = self._starts[pos.line], self._ends[pos.line]
        if encoding == "utf-32" or self.text.isascii():
            if start + pos.character > end:
                raise _stale(path, pos, "character is past the end of the line")
            return start + pos.character
        units, i = 0, start
        while units < pos.character:
            if i >= end:
                raise _stale(path, pos, "character is past the end of the line")
            units += _units(self.text[i], encoding)
            i += 1
        if units != pos.character:
            raise _stale(path, pos, "character splits a character into halves")
        return i


def _units(ch: str, encoding: PositionEncoding) -> int:
    cp = ord(ch)
    if encoding == "utf-16":
        return 2 if cp > 0xFFFF else 1
    # utf-8; lone surrogates (from JSON escapes) count as 3 bytes like any BMP code point
    return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4


def _stale(path: str, pos: Position, reason: str) -> ContentModifiedError:
    return ContentModifiedError(
        f"position {pos.line}:{pos.character} in {path or 'the document'} is not in its "
        f"text: {reason}",
        details={"path": path, "position": pos.to_json(), "reason": reason},
    )


def apply_text_edits(
    text: str,
    edits: Sequence[TextEdit],
    *,
    encoding: PositionEncoding = "utf-16",
    path: str = "",
) -> str:
    """``text`` with the LSP ``edits`` applied (all positions refer to the original text)."""
    index = LineIndex(text)
    spans = []
    for order, edit in enumerate(edits):
        start = index.offset(edit.range.start, encoding, path=path)
        end = index.offset(edit.range.end, encoding, path=path)
        if end < start:
            raise UsageError(
                f"edit {order} in {path or 'the document'} has its end before its start",
                details={"path": path, "edit": order, "range": edit.range.to_json()},
            )
        spans.append((start, order, end, edit.new_text))
    spans.sort()
    out, last = [], 0
    for start, order, end, new_text in spans:
        if start < last:
            raise UsageError(
                f"edit {order} in {path or 'the document'} overlaps another edit",
                details={"path": path, "edit": order},
            )
        out.append(text[last:start])
        out.append(new_text)
        last = end
    out.append(text[last:])
    return "".join(out)
