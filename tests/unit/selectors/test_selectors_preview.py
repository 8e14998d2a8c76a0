"""Preview and 1-based position formatting for people."""

from __future__ import annotations

from codeprm.selectors import WorkspaceIndex, format_position, preview, resolve
from codeprm.types import Position


def test_format_position_in_every_unit() -> None:
    line = "s = '\U0001f600' + x"
    pos = Position(4, 9)  # utf-16 column of '+'
    assert format_position(pos, line) == "L5:C10"
    assert format_position(pos, line, "utf-8") == "L5:C12"
    assert format_position(pos, line, "codepoint") == "L5:C9"


def test_preview_marks_and_underlines() -> None:
    index = WorkspaceIndex.from_texts({"m.py": "a = 1\n\tb = f(x)\nc = 3\n"})
    text = preview(index, resolve('anchor://m.py#"f(x)"', index))
    assert text.splitlines() == [
        "  1 | a = 1",
        "> 2 | \tb = f(x)",
        "    | \t    ^^^^",
        "  3 | c = 3",
    ]


def test_preview_elides_long_ranges() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(30))
    index = WorkspaceIndex.from_texts({"m.py": f"def f():\n{body}\nz = 1\n"})
    out = preview(index, resolve("py://m#f", index), context_lines=0).splitlines()
    assert out[0] == ">  1 | def f():"
    assert any("more lines" in line for line in out)
    assert out[-1] == "> 31 |     x29 = 29"
    assert len(out) < 12
