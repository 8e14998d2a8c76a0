"""Step rewards end to end: real server, real git repositories, traces and replay."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from codeprm.rewards import Facts, Weights
from codeprm.rewards.functional import potential
from tests.conftest import BREAK, FIXTURES, assert_clean_error, check_bundle, git, run_cli, tree

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ws_basic in git, then: 1 break the callers of area, 2 only move area, 3 fix the callers."""
    root = tmp_path_factory.mktemp("repo") / "ws"
    shutil.copytree(FIXTURES / "ws_basic", root)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    geometry = root / "pkg/geometry.py"
    text = (
        geometry.read_text()
        .replace("def area(width: float, height: float)", "def area(width: float)")
        .replace("width * height", "width * width")
    )
    geometry.write_text(text)
    git(root, "commit", "-qam", "break: area takes one argument")
    head, point, area = text.split("\n\n\n")
    geometry.write_text("\n\n\n".join([head, area.rstrip("\n") + "\n", point.rstrip("\n") + "\n"]))
    git(root, "commit", "-qam", "move: area above Point")
    for name, old, new in (
        ("app.py", "area(2.0, 5.0)", "area(2.0)"),
        ("broken.py", "area(1.0, 2.0)", "area(1.0)"),
    ):
        path = root / "pkg" / name
        path.write_text(path.read_text().replace(old, new))
    git(root, "commit", "-qam", "fix: callers")
    return root


def score_json(repo: Path, *extra: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = repo.parent / "bundles.jsonl"
    r = run_cli(
        "score",
        "-w",
        str(repo),
        "--rev-range",
        "HEAD~3..HEAD",
        "--json",
        "--bundles",
        str(out),
        *extra,
    )
    assert r.code == 0, r.err
    bundles = [check_bundle(json.loads(line)) for line in out.read_text().splitlines()]
    return json.loads(r.out), bundles


def test_scripted_trajectory_rewards_have_the_right_signs_and_telescope(repo: Path) -> None:
    before = tree(repo)
    summary, bundles = score_json(repo)
    rewards = [s["reward"] for s in summary["steps"]]
    assert rewards[0] < 0 and rewards[1] == 0.0 and rewards[2] > 0
    assert [s["subject"] for s in summary["steps"]] == [
        "break: area takes one argument",
        "move: area above Point",
        "fix: callers",
    ]
    # step 1 broke two callers in other modules, step 2 moved nothing that matters, step 3 fixed both
    first = bundles[0]["facts"]
    assert sorted((d["path"], d["enclosing"], d["message"]) for d in first["introduced"]) == [
        ("pkg/app.py", "main", "Expected 1 positional argument"),
        ("pkg/broken.py", "total", "Expected 1 positional argument"),
    ]
    assert bundles[1]["facts"]["introduced"] == [] and bundles[1]["facts"]["fixed"] == []
    assert len(bundles[2]["facts"]["fixed"]) == 2
    # the sum telescopes to Phi(end) - Phi(start)
    start = Facts.from_json(bundles[0]["processReward"]["before"])
    end = Facts.from_json(bundles[-1]["processReward"]["after"])
    assert sum(rewards) == pytest.approx(potential(end, Weights()) - potential(start, Weights()))
    assert summary["total"] == pytest.approx(sum(rewards))
    assert tree(repo) == before  # scoring never writes


def test_counterfactual_replay_needs_no_server(repo: Path) -> None:
    _, bundles = score_json(repo)
    out = repo.parent / "bundles.jsonl"
    r = run_cli(
        "replay",
        str(out),
        "--weights",
        "a=2",
        "--json",
        env={"CODEPRM_SERVER_COMMAND": "/nonexistent/server"},
    )
    assert r.code == 0, r.err
    replayed = json.loads(r.out)
    assert [s["total"] for s in replayed["steps"]] == [
        4 * b["processReward"]["total"] for b in bundles
    ]
    published = json.loads(run_cli("replay", str(out), "--formula", "published-v1", "--json").out)
    assert published["steps"][1]["total"] == pytest.approx(
        0.4
    )  # the published form rewards a no-op move
    lines = out.read_text().splitlines()
    tampered = json.loads(lines[0])
    tampered["processReward"]["total"] = 5.0
    out.write_text("\n".join([json.dumps(tampered), *lines[1:]]) + "\n")
    assert_clean_error(run_cli("replay", str(out)), 76, "does not match")


def test_gates(repo: Path) -> None:
    r = run_cli("score", "-w", str(repo), "--rev-range", "HEAD~3..HEAD", "--fail-on-new-errors")
    assert_clean_error(r, 78, "introduced new errors")
    r = run_cli("score", "-w", str(repo), "--rev-range", "HEAD~3..HEAD", "--fail-under", "0.5")
    assert_clean_error(r, 77, "below --fail-under")
    r = run_cli(
        "score",
        "-w",
        str(repo),
        "--rev-range",
        "HEAD~1..HEAD",
        "--fail-on-new-errors",
        "--fail-under",
        "0.5",
    )
    assert r.code == 0, r.err


@pytest.mark.parametrize(("rev", "code"), [("nope..HEAD", 3), ("HEAD", 2), ("HEAD~99..HEAD", 3)])
def test_bad_rev_ranges(repo: Path, rev: str, code: int) -> None:
    assert_clean_error(run_cli("score", "-w", str(repo), "--rev-range", rev), code)


def test_step_scores_in_memory_and_applies_only_when_asked(repo: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "base")
    edit = tmp_path / "break.diff"
    edit.write_text(BREAK)
    before = tree(ws)
    r = run_cli("step", str(edit), "-w", str(ws), "--json")
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    assert bundle["processReward"]["total"] == pytest.approx(-1.0)
    assert bundle["facts"]["covered"] == ["pkg/app.py", "pkg/broken.py", "pkg/geometry.py"]
    assert [e["path"] for e in bundle["edits"]] == ["pkg/geometry.py"]
    # the time spent waiting on the server is part of the step's duration, and the step asked it something
    assert 0 < bundle["meta"]["serverMs"] <= bundle["meta"]["durationMs"]
    assert tree(ws) == before
    human = run_cli("step", str(edit), "-w", str(ws))
    assert "reward -1" in human.out and "preview only" in human.out
    applied = run_cli("step", str(edit), "-w", str(ws), "--apply")
    assert applied.code == 0, applied.err
    assert "def area(width: float) -> float:" in (ws / "pkg/geometry.py").read_text()
    # the same edit again no longer applies: a clean error, nothing written
    after = tree(ws)
    assert_clean_error(run_cli("step", str(edit), "-w", str(ws)), 70)
    assert tree(ws) == after


def test_step_outside_the_jail_is_unsafe_and_never_applied(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    (tmp_path / "outside.py").write_text("x = 1\n")
    edit = tmp_path / "escape.diff"
    edit.write_text("--- a/../outside.py\n+++ b/../outside.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n")
    r = run_cli("step", str(edit), "-w", str(ws), "--json")
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    assert bundle["facts"]["safety"]["checks"]["jail"] is False
    assert bundle["processReward"]["total"] == pytest.approx(-0.4)
    assert_clean_error(run_cli("step", str(edit), "-w", str(ws), "--apply"), 71)
    assert (tmp_path / "outside.py").read_text() == "x = 1\n"


def test_traces_replay_byte_identically_and_detect_tampering(repo: Path, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    edit = tmp_path / "edit.diff"
    edit.write_text(
        "--- a/pkg/app.py\n+++ b/pkg/app.py\n@@ -1,1 +1,1 @@\n-from pkg.geometry import Point, area\n+from pkg.geometry import Point, area, nothing\n"
    )
    for args in (
        ["diag"],
        ["symbols", "pkg/geometry.py"],
        ["step", str(edit)],
        ["score", "--rev-range", "HEAD~3..HEAD"],
        ["diag", "pkg/missing.py"],
    ):
        r = run_cli(*args, "-w", str(repo), "--trace-file", str(trace))
        assert r.code in (0, 3), r.err
    listing = run_cli("trace", "list", str(trace), "--json")
    rows = [json.loads(line) for line in listing.out.splitlines()]
    assert [row["operation"] for row in rows] == ["diag", "symbols", "step", "score", "diag"]
    assert [row["exitCode"] for row in rows] == [0, 0, 0, 0, 3]
    failed = run_cli("trace", "list", str(trace), "--status", "error")
    assert len(failed.out.splitlines()) == 1 and "pkg/missing.py" in failed.out
    recorded = [
        json.loads(line)["bundle"]
        for line in trace.read_text().splitlines()
        if json.loads(line)["type"] == "bundle"
    ]
    out = tmp_path / "replayed.jsonl"
    r = run_cli(
        "trace",
        "replay",
        str(trace),
        "--out",
        str(out),
        env={"CODEPRM_SERVER_COMMAND": "/nonexistent/server"},
    )
    assert r.code == 0, r.err
    from codeprm.bundles import canonical_bytes

    assert out.read_bytes() == b"".join(canonical_bytes(b) + b"\n" for b in recorded)
    for b in recorded:
        check_bundle(b)
    # an edited frame breaks the chain
    lines = trace.read_text().splitlines()
    i = next(n for n, line in enumerate(lines) if "Expected 1 positional argument" in line)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(
        "\n".join([*lines[:i], lines[i].replace("Expected 1", "Expected 7"), *lines[i + 1 :]])
        + "\n"
    )
    assert_clean_error(run_cli("trace", "replay", str(tampered)), 76, "trace digest mismatch")


def test_replay_refuses_a_changed_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    trace = tmp_path / "t.jsonl"
    assert run_cli("diag", "-w", str(ws), "--trace-file", str(trace)).code == 0
    assert run_cli("trace", "replay", str(trace)).code == 0
    (ws / "pkg/app.py").write_text((ws / "pkg/app.py").read_text() + "\n# changed\n")
    assert_clean_error(run_cli("trace", "replay", str(trace)), 76, "changed since it was traced")


def test_trajectory_file_scoring_and_bad_lines(tmp_path: Path) -> None:
    from codeprm.trajectories import Step
    from codeprm.workspace.edits import FileEdit, WorkspaceChange

    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    broken = (ws / "pkg/broken.py").read_text()
    fixed = broken.replace(" + missing_name", "")
    step = Step(
        0,
        WorkspaceChange.of([FileEdit("pkg/broken.py", broken, fixed)]),
        id="fix-1",
        source={"kind": "test"},
    )
    traj = tmp_path / "t.jsonl"
    traj.write_text(json.dumps(step.to_json()) + "\n")
    r = run_cli("score", str(traj), "-w", str(ws), "--json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    assert summary["steps"][0]["reward"] == pytest.approx(0.5) and summary["steps"][0]["fixed"] == 1
    traj.write_text(
        json.dumps(step.to_json()) + "\n" + '{"schema": "codeprm.trajectory/1", "index": 1, "fil\n'
    )
    assert_clean_error(run_cli("score", str(traj), "-w", str(ws)), 2, "t.jsonl:2")
    traj.write_text(json.dumps({**step.to_json(), "schema": "codeprm.trajectory/9"}) + "\n")
    assert_clean_error(run_cli("score", str(traj), "-w", str(ws)), 10, "unknown trajectory schema")


def test_batch_keeps_going_after_a_failure(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    requests = tmp_path / "req.jsonl"
    requests.write_text(
        "\n".join(
            [
                json.dumps({"id": "a", "op": "diag", "args": {"files": ["pkg/broken.py"]}}),
                json.dumps({"id": "b", "op": "symbols", "args": {"file": "pkg/none.py"}}),
                "{not json",
                json.dumps({"id": "d", "op": "symbols", "args": {"file": "pkg/geometry.py"}}),
            ]
        )
        + "\n"
    )
    r = run_cli("batch", str(requests), "-w", str(ws))
    assert r.code == 3
    results = [json.loads(line) for line in r.out.splitlines()]
    assert [(x["id"], x["exitCode"]) for x in results] == [("a", 0), ("b", 3), (3, 2), ("d", 0)]
    check_bundle(results[0]["bundle"])
    assert results[0]["bundle"]["facts"]["counts"]["error"] == 1


def test_ci_reports_from_a_commit_range(repo: Path, tmp_path: Path) -> None:
    from codeprm.reports.sarif import validate_sarif

    sarif, markdown = tmp_path / "out.sarif", tmp_path / "out.md"
    r = run_cli(
        "score",
        "-w",
        str(repo),
        "--rev-range",
        "HEAD~3..HEAD",
        "--sarif",
        str(sarif),
        "--markdown",
        str(markdown),
        "--annotations",
    )
    assert r.code == 0, r.err
    doc = json.loads(sarif.read_text())
    validate_sarif(doc)
    results = doc["runs"][0]["results"]
    assert sorted(
        res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for res in results
    ) == ["pkg/app.py", "pkg/broken.py"]
    assert all(res["ruleId"] == "basedpyright/reportCallIssue" for res in results), [
        res["ruleId"] for res in results
    ]
    assert len({res["partialFingerprints"]["codeprmIdentity/v1"] for res in results}) == 2
    assert "break: area takes one argument" in markdown.read_text()
    annotations = [line for line in r.out.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 2 and all("Expected 1 positional argument" in a for a in annotations)


def test_swe_agent_import_then_score(tmp_path: Path) -> None:
    ws = tmp_path / "calc"
    shutil.copytree(FIXTURES / "trajectories" / "calc_base", ws)
    out = tmp_path / "swe.jsonl"
    r = run_cli(
        "trajectory",
        "import",
        "--from",
        "swe-agent",
        str(FIXTURES / "trajectories" / "swe_agent_calc.traj"),
        "-w",
        str(ws),
        "-o",
        str(out),
    )
    assert r.code == 0, r.err
    assert "4 step(s) imported" in r.err
    scored = run_cli("score", str(out), "-w", str(ws), "--json")
    assert scored.code == 0, scored.err
    steps = json.loads(scored.out)["steps"]
    assert len(steps) == 4 and all(s["safe"] for s in steps)
    assert_clean_error(
        run_cli(
            "trajectory",
            "import",
            "--from",
            "swe-agent",
            str(tmp_path / "nope.traj"),
            "-w",
            str(ws),
        ),
        3,
    )
