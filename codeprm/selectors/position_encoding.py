"""Exact column and offset conversion between utf-16, utf-8 and codepoint units.

Lines follow LSP: a line ends at ``"\\r\\n"``, ``"\\n"`` or ``"\\r"`` and at nothing else
(``str.splitlines`` would also split on ``\\x0b``, ``\\x0c``, ``\\u2028`` ... which the
language server does not). Columns and lines here are 0-based; the 1-based convention of
selector strings is applied only at the edge (``grammar``/``resolve``/``preview``).

Units: ``utf-16`` counts UTF-16 code units (an astral character such as U+1F600 counts
2), ``utf-8`` counts bytes, ``codepoint`` counts Unicode scalar values. A combining mark
is its own code point and so its own column in every unit; a tab is one column.
Tree-sitter reports UTF-8 byte offsets; ``LineTable.byte_to_position`` turns them into
positions in any unit (codeprm uses utf-16 internally, the server's encoding).

This module knows nothing of selectors, files or tree-sitter.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import pairwise
from typing import Literal

from codeprm.types import Position

IndexIO = Literal["utf-16", "utf-8", "codepoint"]
INDEX_IO: tuple[IndexIO, ...] = ("utf-16", "utf-8", "codepoint")

_EOL = re.compile(r"\r\n|\n|\r")


class ColumnError(ValueError):
    """A column or line that is not a character boundary of the text."""


def _check_unit(unit: str) -> None:
    if unit not in INDEX_IO:
        raise ValueError(f"unknown position unit {unit!r} (expected one of {', '.join(INDEX_IO)})")


def char_units(ch: str, unit: IndexIO) -> int:
    """How many ``unit`` columns the single character ``ch`` occupies."""
    if unit == "codepoint":
        return 1
    o = ord(ch)
    if unit == "utf-16":
        return 2 if o > 0xFFFF else 1
    if o < 0x80:
        return 1
    if o < 0x800:
        return 2
    if o < 0x10000:
        return 3
    return 4


def text_units(text: str, unit: IndexIO) -> int:
    """Length of ``text`` in ``unit`` columns (lone surrogates count as one code unit)."""
    _check_unit(unit)
    if unit == "codepoint" or text.isascii():
        return len(text)
    if unit == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def units_to_codepoints(line_text: str, column: int, unit: IndexIO) -> int:
    """The code-point index of the boundary ``column`` units into ``line_text``.

    Raises ``ColumnError`` when the column is negative, beyond the end of the line, or
    falls inside a character (between the two halves of a surrogate pair in utf-16, or
    inside a multi-byte sequence in utf-8).
    """
    _check_unit(unit)
    if column < 0:
        raise ColumnError(f"column {column} is negative")
    if unit == "codepoint" or line_text.isascii():
        if column > len(line_text):
            raise ColumnError(f"column {column} is beyond the end of the line ({len(line_text)})")
        return column
    acc = 0
    for i, ch in enumerate(line_text):
        if acc == column:
            return i
        acc += char_units(ch, unit)
        if acc > column:
            raise ColumnError(f"column {column} falls inside the character {ch!r} ({unit})")
    if acc == column:
        return len(line_text)
    raise ColumnError(f"column {column} is beyond the end of the line ({acc} {unit} columns)")


def codepoints_to_units(line_text: str, cp_column: int, unit: IndexIO) -> int:
    """The ``unit`` column of the boundary ``cp_column`` code points into ``line_text``."""
    if not 0 <= cp_column <= len(line_text):
        raise ColumnError(
            f"code-point column {cp_column} is outside the line (0..{len(line_text)})"
        )
    return text_units(line_text[:cp_column], unit)


def convert_column(line_text: str, column: int, src: IndexIO, dst: IndexIO) -> int:
    """Convert a 0-based ``column`` of ``line_text`` from unit ``src`` to unit ``dst``.

    ``line_text`` is the line without its terminator. Exact: raises ``ColumnError``
    rather than rounding when ``column`` is not a character boundary.
    """
    _check_unit(dst)
    return codepoints_to_units(line_text, units_to_codepoints(line_text, column, src), dst)


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` without terminators, LSP style (``"a\\n"`` -> ``["a", ""]``)."""
    return _EOL.split(text)


class LineTable:
    """Line starts of one text, for offset <-> position conversion in any unit.

    Offsets are code-point indexes into the text (Python ``str`` indexes); byte offsets
    are UTF-8 byte indexes as tree-sitter reports them.
    """

    __slots__ = ("_ascii", "_byte_starts", "_line_starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts: list[int] | None = None  # computed on first use
        self._ascii: bool | None = None
        self._byte_starts: list[int] | None = None

    @property
    def _starts(self) -> list[int]:
        if self._line_starts is None:
            self._line_starts = [0, *(m.end() for m in _EOL.finditer(self.text))]
        return self._line_starts

    @property
    def is_ascii(self) -> bool:
        if self._ascii is None:
            self._ascii = self.text.isascii()
        return self._ascii

    @property
    def line_count(self) -> int:
        return len(self._starts)

    def line_start(self, line: int) -> int:
        """Code-point offset of the first character of ``line``."""
        return self._starts[line]

    def line_end(self, line: int) -> int:
        """Code-point offset just before the terminator of ``line``."""
        if line + 1 < len(self._starts):
            nxt = self._starts[line + 1]
            if nxt - 2 >= self._starts[line] and self.text.startswith("\r\n", nxt - 2):
                return nxt - 2
            return nxt - 1
        return len(self.text)

    def line_text(self, line: int) -> str:
        """The text of ``line`` without its terminator."""
        if not 0 <= line < len(self._starts):
            raise ColumnError(f"line {line} is outside the text (0..{len(self._starts) - 1})")
        return self.text[self._starts[line] : self.line_end(line)]

    def line_of_offset(self, offset: int) -> int:
        if not 0 <= offset <= len(self.text):
            raise ColumnError(f"offset {offset} is outside the text (0..{len(self.text)})")
        return bisect_right(self._starts, offset) - 1

    def offset_to_position(self, offset: int, unit: IndexIO = "utf-16") -> Position:
        """The position of code-point ``offset``; an offset inside a CRLF maps to the line end."""
        line = self.line_of_offset(offset)
        cp = min(offset, self.line_end(line)) - self._starts[line]
        return Position(line, codepoints_to_units(self.line_text(line), cp, unit))

    def position_to_offset(self, position: Position, unit: IndexIO = "utf-16") -> int:
        """The code-point offset of ``position``; ``ColumnError`` if it is not in the text."""
        line_text = self.line_text(position.line)
        return self._starts[position.line] + units_to_codepoints(
            line_text, position.character, unit
        )

    def _bytes(self) -> list[int]:
        if self._byte_starts is None:
            starts = self._starts
            acc = 0
            out = [0]
            for a, b in pairwise(starts):
                acc += len(self.text[a:b].encode("utf-8", "surrogatepass"))
                out.append(acc)
            self._byte_starts = out
        return self._byte_starts

    def byte_to_offset(self, byte_offset: int) -> int:
        """The code-point offset of a UTF-8 byte offset (which must be a character boundary)."""
        if self.is_ascii:
            if not 0 <= byte_offset <= len(self.text):
                raise ColumnError(f"byte offset {byte_offset} is outside the text")
            return byte_offset
        starts = self._bytes()
        if byte_offset < 0:
            raise ColumnError(f"byte offset {byte_offset} is negative")
        line = bisect_right(starts, byte_offset) - 1
        seg_start = self._starts[line]
        seg_end = self._starts[line + 1] if line + 1 < len(self._starts) else len(self.text)
        raw = self.text[seg_start:seg_end].encode("utf-8", "surrogatepass")
        rel = byte_offset - starts[line]
        if rel > len(raw):
            raise ColumnError(f"byte offset {byte_offset} is outside the text")
        try:
            return seg_start + len(raw[:rel].decode("utf-8", "surrogatepass"))
        except UnicodeDecodeError as err:
            raise ColumnError(f"byte offset {byte_offset} falls inside a character") from err

    def offset_to_byte(self, offset: int) -> int:
        """The UTF-8 byte offset of code-point ``offset``."""
        if self.is_ascii:
            return offset
        line = self.line_of_offset(offset)
        start = self._starts[line]
        return self._bytes()[line] + len(self.text[start:offset].encode("utf-8", "surrogatepass"))

    def byte_to_position(self, byte_offset: int, unit: IndexIO = "utf-16") -> Position:
        return self.offset_to_position(self.byte_to_offset(byte_offset), unit)

    def convert_position(self, position: Position, src: IndexIO, dst: IndexIO) -> Position:
        """``position`` with its column converted from unit ``src`` to unit ``dst``."""
        line_text = self.line_text(position.line)
        return Position(position.line, convert_column(line_text, position.character, src, dst))

    def end_position(self, unit: IndexIO = "utf-16") -> Position:
        return self.offset_to_position(len(self.text), unit)


def offset_to_position(text: str, offset: int, unit: IndexIO = "utf-16") -> Position:
    """Position (0-based, ``unit`` columns) of code-point ``offset`` in ``text``."""
    return LineTable(text).offset_to_position(offset, unit)


def position_to_offset(text: str, position: Position, unit: IndexIO = "utf-16") -> int:
    """Code-point offset in ``text`` of ``position`` (0-based, ``unit`` columns)."""
    return LineTable(text).position_to_offset(position, unit)


def byte_to_position(text: str, byte_offset: int, unit: IndexIO = "utf-16") -> Position:
    """Position of a UTF-8 byte offset (as tree-sitter reports) in ``text``."""
    return LineTable(text).byte_to_position(byte_offset, unit)


def convert_position(text: str, position: Position, src: IndexIO, dst: IndexIO) -> Position:
    """``position`` in ``text`` with its column converted between units."""
    return LineTable(text).convert_position(position, src, dst)
