"""Fixtures of the selectors tests: fixture workspaces and the one ``check`` helper.

Tests get everything through fixtures (no imports from this file), so that no test
module imports a top-level helper module that could clash with other packages' tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from codeprm.errors import CodeprmError
from codeprm.selectors import IndexIO, WorkspaceIndex, doc_version, format_range, resolve

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "selectors"
CORE = "src/shop/core.py"

#: The edit applied to ws_basic's core.py to make the "edited" workspace: three lines
#: inserted near the top, fetch renamed to fetch_url, one parameter added to total.
EDITS = (
    ("import functools\n", "import functools\nimport os\nimport re\n\n"),
    ("async def fetch(", "async def fetch_url("),
    ("def total(self, qty: int)", "def total(self, qty: int, unit: float = 1.0)"),
)

CRLF_TEXT = (
    '"""CRLF file."""\r\n'
    "\r\n"
    "def tabbed():\r\n"
    "\treturn '\U0001d518\U0001d51e'  # two astral letters\r\n"
    "\r\n"
    "def combining():\r\n"
    "    return 'e\u0301'\r\n"
)


def _basic() -> WorkspaceIndex:
    return WorkspaceIndex(FIXTURES / "ws_basic")


def _edited() -> WorkspaceIndex:
    index = _basic()
    core = index.file(CORE)
    assert core is not None
    text = core.text
    for old, new in EDITS:
        assert old in text
        text = text.replace(old, new)
    index.set_text(CORE, text)
    return index


def _crlf() -> WorkspaceIndex:
    return WorkspaceIndex.from_texts({"crlf.py": CRLF_TEXT, "notes.txt": "a\u00e9\U0001f600b\n"})


FACTORIES = {
    "basic": _basic,
    "basic-lazy": lambda: WorkspaceIndex(FIXTURES / "ws_basic", scan=False),
    "clash-lazy": lambda: WorkspaceIndex(FIXTURES / "ws_clash", scan=False),
    "edited": _edited,
    "clash": lambda: WorkspaceIndex(FIXTURES / "ws_clash"),
    "crlf": _crlf,
}


def original_version(path: str) -> str:
    """The docVersion of a fixture file as committed (before any in-test edit)."""
    return doc_version((FIXTURES / "ws_basic" / path).read_text(encoding="utf-8"))


def outcome(selector: str, index: WorkspaceIndex, index_io: IndexIO = "utf-16") -> str:
    """``"path L:C-L:C"`` (1-based, utf-16) of a resolution, or ``"!<error name>"``."""
    try:
        res = resolve(selector, index, index_io=index_io)
    except CodeprmError as err:
        return f"!{err.name}"
    f = index.file(res.path)
    assert f is not None
    return f"{res.path} {format_range(f.lines, res.range)}"


def check_outcome(
    selector: str, index: WorkspaceIndex, expected: str, index_io: IndexIO = "utf-16"
) -> None:
    selector = selector.replace("{v}", original_version(CORE))
    assert outcome(selector, index, index_io) == expected, selector


Check = Callable[..., None]


@pytest.fixture(scope="session")
def workspaces() -> dict[str, WorkspaceIndex]:
    return {name: make() for name, make in FACTORIES.items()}


@pytest.fixture
def check() -> Check:
    """``check(selector, index, expected, index_io="utf-16")``: see ``outcome``."""
    return check_outcome


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES
