"""The pure helpers of benchmarks/real_bugs.py: candidate construction and tie-honest metrics."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from codeprm.prm.mutate import parses, undefined_names

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rb() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "real_bugs_bench", ROOT / "benchmarks" / "real_bugs.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


BUGGY = """import os


class Shell:
    def split_path(self, value):
        parts = value.split(":")
        return [p for p in parts if p]

    def name(self):
        return self.kind


def other(x):
    return x + 1
"""
FIXED = BUGGY.replace('value.split(":")', "value.split(os.pathsep)")
PATCH = """diff --git a/pkg/shell.py b/pkg/shell.py
--- a/pkg/shell.py
+++ b/pkg/shell.py
@@ -5,3 +5,3 @@ class Shell:
     def split_path(self, value):
-        parts = value.split(":")
+        parts = value.split(os.pathsep)
         return [p for p in parts if p]
"""


def test_the_patch_applies_and_is_one_function(rb: ModuleType) -> None:
    assert rb.patch_files(PATCH) == ["pkg/shell.py"]
    assert rb.apply_fix("pkg/shell.py", BUGGY, PATCH) == FIXED
    change = rb.one_function_change("pkg/shell.py", BUGGY, FIXED)
    assert change is not None and change.name.endswith("split_path")
    two = FIXED.replace("x + 1", "x + 2")
    assert rb.one_function_change("pkg/shell.py", BUGGY, two) is None  # two functions changed
    assert rb.apply_fix("pkg/shell.py", BUGGY.replace("value.split", "v.split"), PATCH) is None


@pytest.mark.parametrize(
    ("path", "test"),
    [
        ("tests/test_x.py", True),
        ("pkg/test_x.py", True),
        ("pkg/x_test.py", True),
        ("conftest.py", True),
        ("pkg/testing/a.py", True),
        ("pkg/contest.py", False),
        ("luigi/scheduler.py", False),
    ],
)
def test_test_paths(rb: ModuleType, path: str, test: bool) -> None:
    assert rb.is_test_path(path) is test


def test_candidates_are_distinct_and_of_each_kind(rb: ModuleType) -> None:
    cands = rb.candidate_texts("pkg/shell.py", BUGGY, FIXED)
    ids = [c[0] for c in cands]
    assert ids[:2] == ["noop", "fix"] and cands[0][2] == BUGGY and cands[1][2] == FIXED
    assert len(ids) == len(set(ids)) and len({c[2] for c in cands}) == len(cands)
    assert len(cands) <= 6
    for cid, kind, text in cands[2:]:
        assert parses(text)
        # only the fixed function differs from the fix
        assert text.replace(
            text[text.index("    def split_path") : text.index("    def name")], ""
        ) == FIXED.replace(
            FIXED[FIXED.index("    def split_path") : FIXED.index("    def name")], ""
        )
        if kind == "broken:name":
            assert undefined_names(text) - undefined_names(FIXED), cid
    assert any(k.startswith("mutant:") for _, k, _ in cands)
    assert any(k.startswith("broken:") for _, k, _ in cands)
    assert rb.candidate_texts("pkg/shell.py", BUGGY, FIXED) == cands  # deterministic


def test_changed_lines(rb: ModuleType) -> None:
    assert rb.changed_lines("a\nb\nc\n", "a\nB\nc\nd\n") == {1, 3}


def test_ties_never_favour_the_fix(rb: ModuleType) -> None:
    m = rb.bug_metrics({"noop": 0.0, "fix": 0.0, "mutant-1": -0.5, "broken-1": -0.5})
    assert m["top1_strict"] == 0.0 and m["top1_expected"] == 0.5
    assert m["rr"] == pytest.approx((1 + 1 / 2) / 2)
    assert m["noop_ge"] == 1.0 and m["noop_gt"] == 0.0
    assert m["auroc"] == pytest.approx((2 + 0.5) / 3)
    strict = rb.bug_metrics({"noop": 0.0, "fix": 0.1, "mutant-1": 0.2})
    assert strict["top1_strict"] == 0.0 and strict["rr"] == 0.5 and strict["noop_ge"] == 0.0
    best = rb.bug_metrics({"noop": 0.0, "fix": 0.3, "mutant-1": 0.2})
    assert best["top1_strict"] == best["top1_expected"] == best["rr"] == best["auroc"] == 1.0
    assert rb.expected_rr(0, 0) == 1.0 and rb.fix_rank(1.0, [2.0, 1.0, 0.0]) == (1, 1)


def test_summary_pools_bugs_and_skips_failed_candidates(rb: ModuleType) -> None:
    rows = [
        {"bug": "a-1", "id": "noop", "s": 0.0},
        {"bug": "a-1", "id": "fix", "s": 1.0},
        {"bug": "a-1", "id": "mutant-1", "s": None},
        {"bug": "a-1", "id": "broken-1", "error": "x"},
        {"bug": "a-2", "id": "noop", "s": 0.0},
        {"bug": "a-2", "id": "fix", "s": -1.0},
    ]
    s = rb.summarize(rows, "s")
    assert s["bugs"] == 2 and s["candidates"] == 4
    assert s["top1_strict"] == 0.5 and s["noop_ge"] == 0.5
    assert s["auroc_pooled"] == pytest.approx(0.5)
    assert math.isnan(rb.summarize([], "s")["top1_strict"])


def test_scorers_are_derived_from_the_recorded_deltas(rb: ModuleType) -> None:
    base = {"bug": "a-1", "project": "a", "capped": False, "exec_valid": True}
    rows = [
        {**base, "id": "noop", "dE": 0.0, "dW": 0.0, "dX": 0.0, "dV": 0.0},
        {**base, "id": "fix", "dE": 0.0, "dW": 0.0, "dX": 1.0, "dV": 2.0},
        {**base, "id": "broken-1", "dE": -1.0, "dW": 0.0, "dX": 0.0, "dV": 8.0, "capped": True},
    ]
    got = {r["id"]: r for r in rb.derive(rows, {"a": 0.5, "a_w": 0.1, "x": 1.0, "w": 2.0})}
    assert got["noop"]["s_combined"] == got["noop"]["s_combined_fit"] == 0.0
    assert got["fix"]["s_combined"] == 0.5 * 1.0 + 0.25 * 2.0
    assert got["fix"]["s_combined_fit"] == 1.0 + 0.5 * 2.0
    assert got["broken-1"]["s_combined"] == 0.0  # the guard caps a caught step at 0
    # a bug whose tests do not run here: no execution scorer, combinations without it
    invalid = {r["id"]: r for r in rb.derive([{**r, "exec_valid": False} for r in rows])}
    assert invalid["fix"]["s_exec"] is None and invalid["fix"]["s_prm_none"] == 0.0
    tasks = rb.combiner_tasks(rows)
    assert [[c.id for c in t] for t in tasks] == [["noop", "fix", "broken-1"]]


def test_bug_test_command_runs_run_test_sh_under_the_env(rb: ModuleType, tmp_path: Path) -> None:
    bug_dir = tmp_path / "projects" / "p" / "bugs" / "1"
    bug_dir.mkdir(parents=True)
    (bug_dir / "run_test.sh").write_text(
        "tox tests/test_a.py::t\npython3 -m pytest tests/b.py::T::t\n"
    )
    bug = rb.Bug("p", 1, "p/a.py", "b", "f", "")
    assert rb.bug_test_command(tmp_path, bug, "/env/bin/python") == (
        "/env/bin/python -m pytest tests/test_a.py::t\n/env/bin/python -m pytest tests/b.py::T::t"
    )
    (bug_dir / "run_test.sh").write_text("python -m unittest -q test.test_u.T.t\n")
    assert (
        rb.bug_test_command(tmp_path, bug, "/e/python")
        == "/e/python -m unittest -q test.test_u.T.t"
    )
    (bug_dir / "run_test.sh").write_text("make test\n")
    assert rb.bug_test_command(tmp_path, bug, "/e/python") is None


def test_bug_python_prefers_the_bugs_own_env(rb: ModuleType, tmp_path: Path) -> None:
    bug3, bug4 = rb.Bug("p", 3, "p/a.py", "b", "f", ""), rb.Bug("p", 4, "p/a.py", "b", "f", "")
    assert rb.bug_python(None, bug3) is None
    assert rb.bug_python(tmp_path, bug3) is None  # no env at all
    for env in ("p", "p-3"):
        (tmp_path / env / "bin").mkdir(parents=True)
        (tmp_path / env / "bin" / "python").write_text("")
    assert rb.bug_python(tmp_path, bug3) == tmp_path / "p-3" / "bin" / "python"
    assert rb.bug_python(tmp_path, bug4) == tmp_path / "p" / "bin" / "python"
