"""States whose Python files are not the disk's: created, deleted and renamed modules.

The server resolves imports against the file system while states live in memory; such a
state is measured in a scratch mirror (``Analyzer.for_state``), never in the workspace.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeprm.analysis.episode import Episode
from codeprm.analysis.navigate import Analyzer
from codeprm.analysis.step import StepEngine, score_edit
from tests.conftest import check_bundle, run_cli, tree

pytestmark = pytest.mark.e2e

LIB = "def area(w: float, h: float) -> float:\n    return w * h\n"
APP = "from lib import area\n\n\ndef report() -> str:\n    return str(area(2.0, 3.0))\n"
NEWMOD = "def f() -> int: return 1\n"
REPRO = (
    "--- /dev/null\n+++ b/newmod.py\n@@ -0,0 +1 @@\n+def f() -> int: return 1\n"
    "--- a/a.py\n+++ b/a.py\n@@ -1 +1,2 @@\n-x: int = 1\n+from newmod import f\n+x: int = f()\n"
)
NO_DAEMON = {"CODEPRM_NO_DAEMON": "1"}


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
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "lib.py").write_text(LIB)
    (root / "app.py").write_text(APP)
    (root / "a.py").write_text("x: int = 1\n")
    return root


@pytest.fixture()
def engine(ws: Path) -> Iterator[StepEngine]:
    with Analyzer(root=ws, timeout=60) as an:
        yield StepEngine(an)


def step_cli(ws: Path, text: str, *extra: str) -> dict:
    edit = ws.parent / "edit.diff"
    edit.write_text(text)
    r = run_cli("step", str(edit), "-w", str(ws), "--prm", "none", "--json", *extra, env=NO_DAEMON)
    assert r.code == 0, r.err
    return check_bundle(json.loads(r.out))


def test_creating_a_module_and_importing_it_scores_zero_deterministically(ws: Path) -> None:
    before = tree(ws)
    first = step_cli(ws, REPRO)
    assert first["processReward"]["total"] == 0
    assert first["facts"]["introduced"] == [] and first["facts"]["covered"] == ["a.py", "newmod.py"]
    again = step_cli(ws, REPRO)
    assert again["bundleId"] == first["bundleId"]  # same inputs, same bundle
    assert "codeprm-mirror" not in json.dumps(first)  # no scratch path leaks into a bundle
    assert tree(ws) == before  # the workspace is byte-identical


def test_deleting_an_imported_module_is_penalised(engine: StepEngine) -> None:
    root = engine.root
    outcome = score_edit(engine, diff("lib.py", LIB, None))
    bundle = check_bundle(outcome.bundle)
    introduced = bundle["facts"]["introduced"]
    assert bundle["processReward"]["total"] < 0
    assert [d["path"] for d in introduced] == ["app.py"] and "lib" in introduced[0]["message"]
    assert (root / "lib.py").read_text() == LIB


def test_renaming_a_module_with_its_importers_updated_scores_zero(engine: StepEngine) -> None:
    edit = (
        diff("lib.py", LIB, None)
        + diff("geometry.py", None, LIB)
        + diff("app.py", APP, APP.replace("from lib", "from geometry"))
    )
    bundle = check_bundle(score_edit(engine, edit).bundle)
    assert bundle["processReward"]["total"] == 0 and bundle["facts"]["introduced"] == []


def test_a_body_edit_stays_in_the_warm_session(engine: StepEngine) -> None:
    (engine.root / "legacy.py").write_bytes(b"s = '\xe9'\n")  # not UTF-8: no state holds it
    bundle = score_edit(engine, diff("lib.py", LIB, LIB.replace("w * h", "h * w"))).bundle
    assert bundle["processReward"]["total"] == 0
    assert engine.analyzer._shadow is None  # no mirror was needed


def test_an_episode_that_creates_a_module_then_imports_it(engine: StepEngine) -> None:
    ep = Episode.start(engine)
    r1 = ep.advance(engine, diff("newmod.py", None, NEWMOD))["processReward"]["total"]
    r2 = ep.advance(engine, diff("a.py", "x: int = 1\n", "from newmod import f\nx: int = f()\n"))[
        "processReward"
    ]["total"]
    r3 = ep.advance(engine, diff("lib.py", LIB, None))["processReward"][
        "total"
    ]  # app.py now breaks
    assert r1 == 0 and r2 == 0 and r3 < 0
    assert not (engine.root / "newmod.py").exists() and (engine.root / "lib.py").exists()


def test_a_trajectory_that_creates_a_module_then_imports_it(ws: Path, tmp_path: Path) -> None:
    from codeprm.trajectories import Step
    from codeprm.workspace.edits import FileEdit, WorkspaceChange

    before = tree(ws)
    steps = [
        Step(
            0,
            WorkspaceChange.of([FileEdit("newmod.py", None, NEWMOD)]),
            id="create",
            source={"kind": "test"},
        ),
        Step(
            1,
            WorkspaceChange.of(
                [FileEdit("a.py", "x: int = 1\n", "from newmod import f\nx: int = f()\n")]
            ),
            id="use",
            source={"kind": "test"},
        ),
        Step(
            2,
            WorkspaceChange.of([FileEdit("lib.py", LIB, None)]),
            id="delete",
            source={"kind": "test"},
        ),
    ]
    traj = tmp_path / "t.jsonl"
    traj.write_text("".join(json.dumps(s.to_json()) + "\n" for s in steps))
    trace = tmp_path / "trace.jsonl"
    r = run_cli(
        "score", str(traj), "-w", str(ws), "--json", "--trace-file", str(trace), env=NO_DAEMON
    )
    assert r.code == 0, r.err
    rewards = [s["reward"] for s in json.loads(r.out)["steps"]]
    assert rewards[0] == 0 and rewards[1] == 0 and rewards[2] < 0
    assert tree(ws) == before
    replayed = run_cli(
        "trace",
        "replay",
        str(trace),
        env={"CODEPRM_SERVER_COMMAND": "/nonexistent/server", **NO_DAEMON},
    )
    assert replayed.code == 0, replayed.err + replayed.out


def test_a_traced_step_in_the_mirror_replays_byte_identically(ws: Path, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    bundle = step_cli(ws, REPRO, "--trace-file", str(trace))
    assert bundle["processReward"]["total"] == 0
    dirs = {json.loads(line).get("dir") for line in trace.read_text().splitlines()}
    assert {"send", "recv", "shadow-send", "shadow-recv"} <= dirs
    out = tmp_path / "replayed.jsonl"
    r = run_cli(
        "trace",
        "replay",
        str(trace),
        "--out",
        str(out),
        env={"CODEPRM_SERVER_COMMAND": "/nonexistent/server", **NO_DAEMON},
    )
    assert r.code == 0, r.err + r.out
    from codeprm.bundles import canonical_bytes

    assert out.read_bytes() == canonical_bytes(bundle) + b"\n"
