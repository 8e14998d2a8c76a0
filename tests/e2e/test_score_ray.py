"""``codeprm score T.jsonl --ray``: a trajectory's states measured in parallel on Ray actors
(a real local Ray, real language servers in each actor) give the bundle ids one process
gives, and the process that combines them measures nothing itself."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from codeprm.trajectories import Step
from codeprm.workspace.edits import FileEdit, WorkspaceChange
from tests.conftest import FIXTURES, run_cli

ray = pytest.importorskip("ray")  # a test extra: CI installs it, so this never skips there

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

AREA = '''def area(width: float, height: float) -> float:
    """Area of a rectangle."""
    return width * height
'''
AREA_DOCTEST = '''def area(width: float, height: float) -> float:
    """Area of a rectangle.

    >>> area(2.0, 3.0)
    6.0
    """
    return width * height
'''


def _trajectory(ws: Path) -> list[Step]:
    """Eight chained steps over ws_basic: fixes, new errors, a doctest, a refused step."""
    files = {p: (ws / p).read_text() for p in ("pkg/broken.py", "pkg/geometry.py", "pkg/app.py")}
    edits: list[tuple[str, str, str]] = [
        ("pkg/broken.py", " + missing_name", ""),
        ("pkg/geometry.py", "return width * height", "return width * heigth"),
        ("pkg/app.py", "Point(3.0, 4.0)", 'Point("3", 4.0)'),
        ("pkg/geometry.py", "return width * heigth", "return width * height"),
        ("../outside.py", "", "x = 1\n"),  # leaves the workspace: refused, the state stays
        ("pkg/geometry.py", AREA, AREA_DOCTEST),
        ("pkg/app.py", 'Point("3", 4.0)', "Point(3.0, 4.0)"),
        ("pkg/broken.py", "area(1.0, 2.0)", "area(1.0)"),
    ]
    steps = []
    for i, (path, old, new) in enumerate(edits):
        before = files.get(path, "")
        after = before.replace(old, new) if old else new
        steps.append(
            Step(i, WorkspaceChange.of([FileEdit(path, before or None, after)]), id=f"s{i}")
        )
        files[path] = after
    return steps


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    traj = tmp_path / "t.jsonl"
    traj.write_text("".join(json.dumps(s.to_json()) + "\n" for s in _trajectory(ws)))
    return ws, traj


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["bundleId"] for line in path.read_text().splitlines()]


def test_cli_scores_a_trajectory_on_ray_actors_as_one_process(
    workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    ws, traj = workspace
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # a local Ray
    common = ("score", str(traj), "-w", str(ws), "--prm", "none", "--json")
    one = run_cli(*common, "--bundles", str(tmp_path / "one.jsonl"))
    assert one.code == 0, one.err
    par = run_cli(
        *common,
        "--bundles",
        str(tmp_path / "ray.jsonl"),
        "--ray",
        "auto",
        "--actors",
        "2",
        env=env,
        timeout=300,
    )
    assert par.code == 0, par.err
    ids = _ids(tmp_path / "one.jsonl")
    assert len(ids) == 8 and len(set(ids)) == 8
    assert _ids(tmp_path / "ray.jsonl") == ids

    def timeless(out: str) -> dict[str, Any]:
        summary = json.loads(out)
        return {**summary, "steps": [{**s, "seconds": 0} for s in summary["steps"]]}

    assert timeless(par.out) == timeless(one.out)
    rewards = [s["reward"] for s in json.loads(one.out)["steps"]]
    assert rewards[0] > 0 and rewards[1] < 0  # a fix and a new error: not all alike


def test_the_combining_process_measures_nothing_itself(workspace: tuple[Path, Path]) -> None:
    from codeprm.analysis.trajectory import load_steps
    from codeprm.distributed.states import RayMeasure
    from codeprm.workbench import Workbench

    ws, traj = workspace
    steps = load_steps(traj)
    with Workbench(root=ws) as alone:
        expected = alone.score_trajectory(steps, exec_mode="doctest")
    calls: list[int] = []
    # three actors asking for a CPU each, on a Ray of two CPUs: they share them
    measure = RayMeasure(ws, actors=3, exec_options={"exec_mode": "doctest"})

    def counted(states: list[Any], covered: list[str], selection: Any) -> Any:
        calls.append(len(states))
        return measure(states, covered, selection)

    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        with Workbench(root=ws) as bench:
            got = bench.score_trajectory(steps, exec_mode="doctest", premeasure=counted)
            # every state's diagnostics came from the actors: the local memo stayed empty
            assert bench.analyzer.measure_cache == {}
    finally:
        ray.shutdown()
    assert calls == [9]  # the start and the state after each of the 8 steps
    assert [b["bundleId"] for b in got] == [b["bundleId"] for b in expected]
    assert any("execution" in b["facts"] for b in got)  # the doctest ran (on an actor)
