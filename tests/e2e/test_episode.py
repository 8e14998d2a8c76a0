"""Episodes: a trajectory scored step by step in memory, against the real language server."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeprm.analysis.episode import Episode
from codeprm.analysis.navigate import Analyzer
from codeprm.analysis.step import StepEngine, score_edit
from codeprm.errors import ApplyConflictError

pytestmark = pytest.mark.e2e

LIB = "def area(w: float, h: float) -> float:\n    return w * h\n"
APP = "from lib import area\n\n\ndef report() -> str:\n    return str(area(2.0, 3.0))\n"


def diff(path: str, before: str | None, after: str | None) -> str:
    a = before.splitlines(True) if before is not None else []
    b = after.splitlines(True) if after is not None else []
    return "".join(
        difflib.unified_diff(
            a,
            b,
            f"a/{path}" if before is not None else "/dev/null",
            f"b/{path}" if after is not None else "/dev/null",
        )
    )


@pytest.fixture()
def engine(tmp_path: Path) -> Iterator[StepEngine]:
    (tmp_path / "lib.py").write_text(LIB)
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "README.md").write_text("geometry\n")
    with Analyzer(root=tmp_path, timeout=60) as an:
        yield StepEngine(an)


def test_rewards_of_an_episode_telescope_and_disk_is_untouched(engine: StepEngine) -> None:
    root = engine.root
    ep = Episode.start(engine)
    lib1 = "def area(w: float) -> float:\n    return w * w\n"  # breaks the caller in app.py
    lib2 = "\n\ndef area(w: float) -> float:\n    return w * w\n"  # only moves code
    lib3 = "def area(w: float, h: float = 1.0) -> float:\n    return w * h\n"  # fixes the break
    r1 = ep.advance(engine, diff("lib.py", LIB, lib1))["processReward"]["total"]
    r2 = ep.advance(engine, diff("lib.py", lib1, lib2))["processReward"]["total"]
    r3 = ep.advance(
        engine, diff("lib.py", lib2, lib3) + diff("README.md", "geometry\n", "geometry, fixed\n")
    )["processReward"]["total"]
    assert r1 < 0 and r2 == 0.0 and r3 > 0
    assert ep.steps == 3 and ep.total == pytest.approx(r1 + r2 + r3)
    one_step = score_edit(engine, diff("lib.py", LIB, lib3)).bundle["processReward"]["total"]
    assert r1 + r2 + r3 == pytest.approx(one_step)  # telescopes to start -> end
    assert (root / "lib.py").read_text() == LIB and (root / "README.md").read_text() == "geometry\n"
    assert ep.texts["README.md"] == "geometry, fixed\n"


def test_a_step_that_does_not_apply_changes_nothing_and_new_files_count(engine: StepEngine) -> None:
    ep = Episode.start(engine)
    with pytest.raises(ApplyConflictError):
        ep.advance(engine, diff("lib.py", "something else\n", "x\n"))
    assert ep.steps == 0 and ep.texts["lib.py"] == LIB
    bundle = ep.advance(engine, diff("extra.py", None, 'n: int = "one"\n'))
    assert bundle["processReward"]["total"] < 0 and len(bundle["facts"]["introduced"]) == 1
    assert "extra.py" in ep.cover
    escaped = ep.advance(engine, diff("../outside.py", None, "x = 1\n"))
    assert escaped["facts"]["safety"]["passed"] is False and "../outside.py" not in ep.texts
