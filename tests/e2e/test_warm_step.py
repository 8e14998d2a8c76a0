"""The warm step's fast path (per-file memo, importers skipped after body edits) against full re-checks.

Two real servers over the same small multi-module workspace: one engine reuses what it
already checked, the other re-checks every covered file of every state. Over a sequence
of edits (body edits, a signature change an importer uses, an unannotated function whose
inferred type changes, a method body that declares an attribute, a ``global`` in a body,
a syntax error, a revert) both must give exactly the same diagnostics, and the fast one
must pull only the edited file after an edit that changes no surface.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeprm.analysis.navigate import Analyzer
from codeprm.analysis.step import StepEngine

pytestmark = pytest.mark.e2e

LIB = '''"""A library the other modules import."""


def area(width: float, height: float) -> float:
    return width * height


def guess(x):
    return x * 2


class Box:
    def __init__(self, size: int) -> None:
        self.size = size

    def grow(self) -> int:
        return self.size + 1


def setup() -> None:
    pass


COUNT = 3
'''

APP = """from pkg.lib import COUNT, Box, area, guess


def main() -> float:
    b = Box(2)
    n: int = b.grow()
    s: str = guess("a")
    label: str = b.label
    return area(1.0, 2.0) + n + COUNT + len(s) + len(label)
"""

OTHER = """import pkg.lib


def total() -> float:
    return pkg.lib.area(1.0, 2.0)
"""

BASE = {
    "pkg/__init__.py": "",
    "pkg/lib.py": LIB,
    "pkg/app.py": APP,
    "pkg/other.py": OTHER,
    "pkg/alone.py": "X: int = 1\n",
}


def edit(texts: dict[str, str], path: str, old: str, new: str) -> dict[str, str]:
    assert old in texts[path], old
    return {**texts, path: texts[path].replace(old, new, 1)}


def states() -> list[tuple[str, dict[str, str], str]]:
    """(what, snapshot, what the fast path pulls after it) in order; each edit from the last.

    "edited": only the edited file (no surface changed); "importers": the importers too;
    "nothing": a state already measured (every file answered from the memo).
    """
    s0 = dict(BASE)
    s1 = edit(
        s0,
        "pkg/lib.py",
        "    return width * height\n",
        "    x = 1\n    y: int = 'no'\n    return width * height + x\n",
    )
    s2 = edit(s1, "pkg/lib.py", "return self.size + 1", "return self.size + 2")
    s3 = edit(s2, "pkg/lib.py", "def area(width: float, height: float)", "def area(width: float)")
    s4 = edit(s3, "pkg/lib.py", "    return x * 2\n", "    return 1\n")
    s5 = edit(
        s4,
        "pkg/lib.py",
        "        self.size = size\n",
        "        self.size = size\n        self.label = 'box'\n",
    )
    s6 = edit(
        s5,
        "pkg/lib.py",
        "def setup() -> None:\n    pass\n",
        "def setup() -> None:\n    global COUNT\n    COUNT = 'many'\n",
    )
    s7 = edit(s6, "pkg/lib.py", "def setup() -> None:\n", "def setup() -> None:\n    if (:\n")
    s8 = edit(s7, "pkg/lib.py", "    if (:\n", "")
    return [
        ("start", s0, "importers"),
        ("body edit, new lines and an error", s1, "edited"),
        ("method body edit", s2, "edited"),
        ("signature change importers use", s3, "importers"),
        ("unannotated function's body", s4, "importers"),
        ("method body declaring an attribute", s5, "importers"),
        ("global in a body", s6, "importers"),
        ("syntax error", s7, "importers"),
        ("syntax error fixed (the state before it again)", s8, "nothing"),
        ("back to the start", dict(s0), "nothing"),
    ]


@pytest.fixture(scope="module")
def engines(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[StepEngine, StepEngine, list[list[str]]]]:
    roots = []
    for name in ("fast", "full"):
        root = tmp_path_factory.mktemp(name) / "ws"
        for rel, text in BASE.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        roots.append(root)
    with (
        Analyzer(root=roots[0], timeout=60) as fast_an,
        Analyzer(root=roots[1], timeout=60) as full_an,
    ):
        pulls: list[list[str]] = []
        session = fast_an.session
        real = session.diagnostics_many

        def spy(paths: list[Path]) -> Any:
            pulls.append(sorted(p.relative_to(fast_an.root).as_posix() for p in paths))
            return real(paths)

        session.diagnostics_many = spy  # type: ignore[method-assign]
        yield StepEngine(fast_an), StepEngine(full_an, reuse=False), pulls


def check(fast: StepEngine, full: StepEngine, texts: dict[str, str], cover: list[str]) -> list[Any]:
    got, want = fast.measure(texts, cover), full.measure(texts, cover)
    assert got == want
    return got


def test_fast_measure_equals_full_recheck_over_a_sequence_of_edits(
    engines: tuple[StepEngine, StepEngine, list[list[str]]],
) -> None:
    fast, full, pulls = engines
    seq = states()
    seen_messages = set()
    for (_, before, _), (what, after, expect) in itertools.pairwise(seq):
        cover = fast.covered(before, after, ["pkg/lib.py"])
        assert cover == [
            "pkg/__init__.py",
            "pkg/app.py",
            "pkg/lib.py",
            "pkg/other.py",
        ] or cover == ["pkg/app.py", "pkg/lib.py", "pkg/other.py"]
        check(fast, full, before, cover)
        pulls.clear()
        located = check(fast, full, after, cover)
        seen_messages.update((x.diagnostic.path, x.diagnostic.message) for x in located)
        if expect == "edited":
            assert pulls == [["pkg/lib.py"]], what  # importers answered from the memo
        elif expect == "importers":
            assert pulls and {"pkg/app.py", "pkg/lib.py", "pkg/other.py"} <= set(pulls[0]), what
        else:
            assert pulls == [], what
    # the sequence really moved the importers' facts (else the comparison proves little)
    app = {m for p, m in seen_messages if p == "pkg/app.py"}
    assert any("area" in m or "height" in m or "argument" in m.lower() for m in app), app
    assert any("label" in m for m in app), app


def test_body_edits_then_revert_pull_nothing_more(
    engines: tuple[StepEngine, StepEngine, list[list[str]]],
) -> None:
    """A warm before state is answered from the memo: no sync, no pull."""
    fast, full, pulls = engines
    s0 = dict(BASE)
    cover = fast.covered(s0, s0, ["pkg/lib.py"])
    check(fast, full, s0, cover)
    pulls.clear()
    assert fast.measure(s0, cover) == full.measure(s0, cover)
    assert pulls == []
