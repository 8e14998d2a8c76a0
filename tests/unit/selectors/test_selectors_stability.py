"""Selectors keep naming the same element under unrelated edits (hypothesis).

A module is assembled from blocks: two fixed target blocks and random filler blocks
(functions and classes with random indentation, body length and blank lines between
blocks, in random order). Whatever the layout, symbol, AST-path and anchor selectors
must resolve to the target blocks' elements and symbolIds must not change; a versioned
cursor must either follow its line or say VersionSkewError, never point elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codeprm.errors import VersionSkewError
from codeprm.selectors import WorkspaceIndex, doc_version, resolve
from codeprm.selectors.position_encoding import LineTable

PATH = "pkg/mod.py"
TARGET_FUNC = (
    "def target_func(alpha, beta=2):\n"
    '    """Target docstring."""\n'
    "    value = alpha * beta\n"
    "    return value + 7  # target-marker\n"
)
TARGET_CLASS = (
    "class TargetClass:\n"
    "    @property\n"
    "    def prop(self):\n"
    "        return 1\n"
    "\n"
    "    @prop.setter\n"
    "    def prop(self, value):\n"
    "        pass\n"
    "\n"
    "    def method(self, x):\n"
    "        return x\n"
)

# selector -> (target block, substring of the block the selector names)
SELECTORS = {
    "py://pkg.mod#target_func": ("func", TARGET_FUNC.rstrip("\n")),
    "py://pkg.mod#target_func:doc": ("func", '"""Target docstring."""'),
    "py://pkg.mod#target_func:sig": ("func", "def target_func(alpha, beta=2):"),
    "py://pkg.mod#TargetClass.prop?accessor=setter": (
        "class",
        "@prop.setter\n    def prop(self, value):\n        pass",
    ),
    "py://pkg.mod#TargetClass.prop": ("class", "@property\n    def prop(self):\n        return 1"),
    "ast://[module=pkg.mod]/[class=TargetClass]/[def=method]": (
        "class",
        "def method(self, x):\n        return x",
    ),
    "ast://[module=pkg.mod]/[class=TargetClass]": ("class", TARGET_CLASS.rstrip("\n")),
    'anchor://pkg/mod.py#"return%20value%20+%207"': ("func", "return value + 7"),
}


@dataclass(frozen=True)
class Filler:
    ident: int
    is_class: bool
    indent: str
    body_lines: int

    def render(self) -> str:
        i = self.indent
        if self.is_class:
            return (
                f"class Filler{self.ident}:\n{i}def method(self, x):\n{i}{i}return x * {self.ident}\n"
                + "".join(f"{i}attr_{k} = {k}\n" for k in range(self.body_lines))
            )
        body = "".join(f"{i}v{k} = a + {k}\n" for k in range(self.body_lines))
        return f"def filler_{self.ident}(a, b):\n{body}{i}return a - b\n"


Layout = list[tuple["Filler | str", int]]

fillers = st.builds(
    Filler,
    st.integers(0, 60),
    st.booleans(),
    st.sampled_from(["  ", "    ", "        ", "\t"]),
    st.integers(0, 4),
)


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
    items: list[Filler | str] = list(
        {f.ident: f for f in draw(st.lists(fillers, max_size=6))}.values()
    )
    items.insert(draw(st.integers(0, len(items))), "func")
    items.insert(draw(st.integers(0, len(items))), "class")
    seps = draw(st.lists(st.integers(1, 4), min_size=len(items), max_size=len(items)))
    return [*zip(items, seps, strict=True)]


def assemble(
    layout: Layout, header: str = '"""Module."""\nimport os\n'
) -> tuple[str, dict[str, int]]:
    """The module text and the offset of each target block in it."""
    text = header
    where: dict[str, int] = {}
    for item, sep in layout:
        text += "\n" * sep
        if isinstance(item, Filler):
            text += item.render()
        else:
            where[item] = len(text)
            text += TARGET_FUNC if item == "func" else TARGET_CLASS
    return text, where


BASE_LAYOUT: Layout = [
    (Filler(100, False, "    ", 2), 2),
    ("func", 2),
    (Filler(101, True, "    ", 1), 2),
    ("class", 2),
    (Filler(102, False, "    ", 0), 2),
]


def _expected_offset(text: str, where: dict[str, int], block: str, part: str) -> int:
    start = where[block]
    found = text.find(part, start)
    assert found >= 0
    return found


def _offset(index: WorkspaceIndex, selector: str) -> tuple[int, int, str | None]:
    res = resolve(selector, index)
    f = index.get(res.path)
    assert f is not None
    lines = LineTable(f.text)
    return (
        lines.position_to_offset(res.range.start),
        lines.position_to_offset(res.range.end),
        res.symbol_id,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts(), st.booleans())
def test_unrelated_edits_keep_selectors_and_ids(layout: Layout, crlf: bool) -> None:
    base_text, base_where = assemble(BASE_LAYOUT)
    index = WorkspaceIndex.from_texts({PATH: base_text})
    base_version = doc_version(base_text)
    before = {s: _offset(index, s) for s in SELECTORS}
    for selector, (block, part) in SELECTORS.items():
        start = _expected_offset(base_text, base_where, block, part)
        assert before[selector][:2] == (start, start + len(part)), selector

    text, where = assemble(layout)
    if crlf:
        text = text.replace("\n", "\r\n")
    parses = index.parse_count
    index.set_text(PATH, text)
    assert index.parse_count == parses + (text != base_text)

    for selector, (block, part) in SELECTORS.items():
        if crlf:
            part = part.replace("\n", "\r\n")
        for versioned in (selector, f"{selector}{'&' if '?' in selector else '?'}v={base_version}"):
            expected = _expected_offset(text, where, block, part)
            start, end, sid = _offset(index, versioned)
            assert (start, end) == (expected, expected + len(part)), versioned
            assert sid == before[selector][2], versioned


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_versioned_cursor_follows_its_line_or_says_skew(layout: Layout) -> None:
    base_text, _ = assemble(BASE_LAYOUT)
    index = WorkspaceIndex.from_texts({PATH: base_text})
    marker = base_text.index("value = alpha * beta")
    pos = LineTable(base_text).offset_to_position(marker)
    selector = f"{PATH}@L{pos.line + 1}:C{pos.character + 1}?v={doc_version(base_text)}"
    text, _ = assemble(layout)
    index.set_text(PATH, text)
    try:
        res = resolve(selector, index)
    except VersionSkewError:
        return
    lines = LineTable(text)
    assert lines.position_to_offset(res.range.start) == text.index("value = alpha * beta")
    assert res.version_check in ("relocated", "current")
