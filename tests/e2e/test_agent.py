"""agent repair: the reward-guided loop finds the fix with no more test runs than proposer order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, assert_clean_error, run_cli

pytestmark = pytest.mark.e2e

TEST_CMD = "python -m unittest -q test_calc"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "calc"
    shutil.copytree(FIXTURES / "repair_calc", root)
    return root


def repair(ws: Path, *extra: str) -> dict:
    r = run_cli(
        "agent",
        "repair",
        "calc.py",
        "--test-cmd",
        TEST_CMD,
        "-w",
        str(ws),
        "--json",
        "--prm",
        "none",
        *extra,
    )
    assert r.code in (0, 3), r.err
    return json.loads(r.out)


def test_guided_repair_spends_no_more_test_runs(ws: Path, tmp_path: Path) -> None:
    before = (ws / "calc.py").read_bytes()
    trajectory = tmp_path / "run.jsonl"
    guided = repair(ws, "--trajectory", str(trajectory))
    baseline = repair(ws, "--order", "proposer", "--budget", "60")
    assert guided["fixed"] and baseline["fixed"]
    assert guided["fix"]["id"] == baseline["fix"]["id"] == "calc.py:mean:undefined-name:326"
    assert guided["fix"]["reward"] == pytest.approx(0.5)
    # proposer order puts undefined-name repairs first (the likeliest class), so here it is
    # as quick as the guided order: both verify the fix first
    assert guided["testRuns"] <= baseline["testRuns"]
    assert guided["testRuns"] <= 3
    assert (ws / "calc.py").read_bytes() == before  # the search never writes the workspace
    events = [json.loads(line)["event"] for line in trajectory.read_text().splitlines()]
    assert events[0] == "baseline" and events[1] == "scored" and events[-1] == "fixed"
    assert events.count("verified") == guided["testRuns"] - 1


def test_apply_writes_the_fix_and_tests_pass(ws: Path) -> None:
    r = run_cli(
        "agent",
        "repair",
        "calc.py",
        "--test-cmd",
        TEST_CMD,
        "-w",
        str(ws),
        "--prm",
        "none",
        "--apply",
    )
    assert r.code == 0, r.err
    assert "return total / len(values)" in (ws / "calc.py").read_text()


def test_nothing_to_repair_and_hanging_tests(ws: Path) -> None:
    fixed = (ws / "calc.py").read_text().replace("len(value)", "len(values)")
    (ws / "calc.py").write_text(fixed)
    assert repair(ws)["errors"] == ["the tests already pass: nothing to repair"]
    (ws / "calc.py").write_text(fixed.replace("len(values)", "len(value)"))
    r = run_cli(
        "agent",
        "repair",
        "calc.py",
        "--test-cmd",
        "sleep 30",
        "-w",
        str(ws),
        "--prm",
        "none",
        "--test-timeout",
        "1",
        "--budget",
        "2",
    )
    assert_clean_error(r, 3, "no candidate made the tests pass")


def test_unreachable_llm_endpoint_is_an_error_of_that_proposer_only(ws: Path) -> None:
    result = repair(ws, "--llm-url", "http://127.0.0.1:9")
    assert result["fixed"]
    assert any(e.startswith("llm:") for e in result["errors"])


def test_repair_tests_the_workspace_module_that_shadows_the_standard_library(
    tmp_path: Path,
) -> None:
    from tests.unit.test_localize_sandbox import broken_textwrap_workspace

    ws = broken_textwrap_workspace(tmp_path / "tw")
    cmd = "python -m unittest -q test_tw"
    # proposer order: no ranking of the few hundred mutations of a 500-line module
    r = run_cli(
        "agent",
        "repair",
        "textwrap.py",
        "--test-cmd",
        cmd,
        "-w",
        str(ws),
        "--json",
        "--prm",
        "none",
        "--order",
        "proposer",
        "--budget",
        "400",
        timeout=300,
    )
    assert r.code == 0, r.err
    result = json.loads(r.out)
    assert "the tests already pass: nothing to repair" not in result["errors"]
    assert result["fixed"] and result["fix"]["path"] == "textwrap.py"
    assert result["fix"]["detail"]["function"] == "dedent"
