"""Position encodings: utf-16 / utf-8 / codepoint columns, exact on astral, combining, CRLF, tabs."""

from __future__ import annotations

from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeprm.selectors import (
    INDEX_IO,
    ColumnError,
    IndexIO,
    LineTable,
    byte_to_position,
    convert_column,
    convert_position,
    offset_to_position,
    position_to_offset,
)
from codeprm.selectors.outline import new_parser, outline_of
from codeprm.selectors.position_encoding import split_lines, text_units
from codeprm.types import Position

GRIN = "\U0001f600"  # astral: 2 utf-16 units, 4 utf-8 bytes
LINE = f"a\u00e9{GRIN}e\u0301\t\u4e2dz"  # a é 😀 e+combining tab 中 z

# (column in src unit, src, dst, expected column in dst unit); 0-based
CONVERSIONS = [
    (0, "utf-16", "utf-8", 0),
    (1, "utf-16", "utf-8", 1),
    (2, "utf-16", "utf-8", 3),  # after é (2 bytes)
    (4, "utf-16", "utf-8", 7),  # after 😀 (2 units, 4 bytes)
    (4, "utf-16", "codepoint", 3),
    (5, "utf-16", "codepoint", 4),  # between e and its combining mark
    (6, "utf-16", "utf-8", 10),  # after U+0301 (2 bytes)
    (7, "utf-16", "utf-8", 11),  # after the tab
    (8, "utf-16", "utf-8", 14),  # after 中 (3 bytes)
    (9, "utf-16", "codepoint", 8),  # end of line
    (7, "utf-8", "utf-16", 4),
    (3, "codepoint", "utf-16", 4),
    (8, "codepoint", "utf-8", 15),
    (15, "utf-8", "codepoint", 8),
]


@pytest.mark.parametrize(("column", "src", "dst", "expected"), CONVERSIONS)
def test_convert_column(column: int, src: IndexIO, dst: IndexIO, expected: int) -> None:
    assert convert_column(LINE, column, src, dst) == expected
    assert convert_column(LINE, expected, dst, src) == column


@pytest.mark.parametrize(
    ("column", "unit"),
    [
        (3, "utf-16"),
        (4, "utf-8"),
        (5, "utf-8"),
        (6, "utf-8"),
        (2, "utf-8"),
        (13, "utf-8"),
        (10, "utf-16"),
        (9, "codepoint"),
        (-1, "utf-16"),
    ],
)
def test_columns_inside_characters_or_beyond_the_line_are_errors(
    column: int, unit: IndexIO
) -> None:
    with pytest.raises(ColumnError):
        convert_column(LINE, column, unit, "codepoint")


def test_unknown_unit_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown position unit"):
        convert_column("abc", 1, cast("IndexIO", cast(object, "utf-32")), "utf-8")


def test_lsp_line_terminators_only() -> None:
    assert split_lines("a\r\nb\rc\nd") == ["a", "b", "c", "d"]
    assert split_lines("a\x0bb\x0cc\u2028d\x85e") == ["a\x0bb\x0cc\u2028d\x85e"]
    assert split_lines("x\n") == ["x", ""]
    table = LineTable("a\r\n\r\nb\r")
    assert table.line_count == 4
    assert [table.line_text(i) for i in range(4)] == ["a", "", "b", ""]
    # an offset between \r and \n is reported at the end of its line
    assert table.offset_to_position(2) == Position(0, 1)


def test_whole_text_helpers_with_crlf_and_astral() -> None:
    text = f"x = 1\r\ns = '{GRIN}{GRIN}'\r\n\tend"
    off = text.index("'", text.index(GRIN))
    assert offset_to_position(text, off) == Position(1, 9)
    assert offset_to_position(text, off, "utf-8") == Position(1, 13)
    assert offset_to_position(text, off, "codepoint") == Position(1, 7)
    assert position_to_offset(text, Position(1, 9)) == off
    assert position_to_offset(text, Position(2, 1)) == text.index("end")
    assert convert_position(text, Position(1, 13), "utf-8", "utf-16") == Position(1, 9)
    byte = len(text[:off].encode())
    assert byte_to_position(text, byte) == Position(1, 9)
    with pytest.raises(ColumnError):
        position_to_offset(text, Position(3, 0))
    with pytest.raises(ColumnError):
        position_to_offset(text, Position(1, 6))  # inside the first 😀


def test_tree_sitter_byte_offsets_become_utf16_positions() -> None:
    text = (
        f"s = '{GRIN}'; t = 'é'\ndef f\u00e9(x='{GRIN}'):\n    return '\U0001d518'\ndef g(): pass\n"
    )
    outline = outline_of(text.encode(), new_parser())
    table = LineTable(text)
    fe, g = outline.definitions
    assert table.byte_to_position(fe.name_span[0]) == Position(1, 4)
    # "def fé(x='" is 10 units, the grin 2, "'):" 3
    assert table.byte_to_position(fe.sig[1]) == Position(1, 15)
    # "    return '" is 12 units, the astral letter 2, "'" 1
    assert table.byte_to_position(fe.span[1]) == Position(2, 15)
    assert table.byte_to_position(g.span[0]) == Position(3, 0)


_text = st.lists(
    st.one_of(
        st.sampled_from(["\r\n", "\n", "\r", "\t", GRIN, "e\u0301", "\u00e9", "\u4e2d"]),
        st.characters(exclude_categories=("Cs",)),
    ),
    max_size=30,
).map("".join)


def _oracle(text: str, offset: int, unit: IndexIO) -> Position:
    """Position by brute force: count terminators, then encode the line prefix."""
    lines = split_lines(text[:offset])
    prefix = lines[-1]
    if prefix.endswith("\r") and text[offset : offset + 1] == "\n":
        prefix = prefix[:-1]
    return Position(len(lines) - 1, text_units(prefix, unit))


@settings(max_examples=200, deadline=None)
@given(_text, st.sampled_from(INDEX_IO))
def test_every_offset_round_trips(text: str, unit: IndexIO) -> None:
    table = LineTable(text)
    for offset in range(len(text) + 1):
        pos = table.offset_to_position(offset, unit)
        if text[offset - 1 : offset + 1] == "\r\n":
            continue  # inside a CRLF: no position of its own
        assert pos == _oracle(text, offset, unit)
        assert table.position_to_offset(pos, unit) == offset
        byte = table.offset_to_byte(offset)
        assert byte == len(text[:offset].encode("utf-8"))
        assert table.byte_to_offset(byte) == offset
        for other in INDEX_IO:
            moved = table.convert_position(pos, unit, other)
            assert table.position_to_offset(moved, other) == offset
