"""Labels by execution: real test commands run against each repair step in a scratch copy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from codeprm.cli.main import run
from codeprm.prm.execlabel import STDLIB, corpus_planner, label_by_execution, stdlib_plan
from codeprm.prm.records import StepRecord
from tests.conftest import tree

CALC = """\
def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def double(x):
    return 2 * x
"""

TESTS = """\
import unittest
from calc import clamp, double


class T(unittest.TestCase):
    def test_clamp(self):
        self.assertEqual(clamp(5, 0, 3), 3)
        self.assertEqual(clamp(-1, 0, 3), 0)
        self.assertEqual(clamp(2, 0, 3), 2)
"""

ORIGINAL = CALC[: CALC.index("\n\n\ndef double")] + "\n"
BUGGY = ORIGINAL.replace("if x > hi:", "if x < hi:")
UNTESTED_ORIGINAL = "def double(x):\n    return 2 * x\n"


def step(
    after: str, candidate: str, *, bug: str = "b1", before: str = BUGGY, label: bool = False
) -> StepRecord:
    return StepRecord(
        before=before,
        after=after,
        diff="-",
        label=label,
        bug_id=bug,
        candidate=candidate,
        source_path="proj/calc.py",
        mutation="comparison-swap",
    )


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "calc.py").write_text(CALC)
    (root / "test_calc.py").write_text(TESTS)
    return root


COMMAND = f"{sys.executable} -m unittest -q test_calc"


def test_tests_decide_the_labels_and_disagree_with_equivalence_where_they_should(
    corpus: Path,
) -> None:
    records = [
        step(ORIGINAL, "correct", label=True),
        step(
            BUGGY.replace("if x < hi:", "if x >= hi:"), "near-miss"
        ),  # passes the tests: equivalent in behaviour
        step(BUGGY.replace("return lo", "return hi"), "other-mutation"),  # bug stays, another added
        # a bug the tests never notice: keeps its equivalence labels
        step(
            UNTESTED_ORIGINAL,
            "correct",
            bug="b2",
            before="def double(x):\n    return 3 * x\n",
            label=True,
        ),
        step(
            "def double(x):\n    return 4 * x\n",
            "near-miss",
            bug="b2",
            before="def double(x):\n    return 3 * x\n",
        ),
    ]
    before = tree(corpus)
    labelled, stats = label_by_execution(records, corpus_planner([corpus], COMMAND), timeout=60)
    assert [r.label for r in labelled] == [True, True, False, True, False]
    assert [r.label_source for r in labelled] == ["execution"] * 3 + ["equivalence"] * 2
    assert stats.bugs_relabelled == 1 and stats.bugs_undetected == 1 and stats.steps_relabelled == 3
    assert stats.disagreements == {"near-miss": 1}
    assert stats.test_runs == 1 + 2 + 3  # the original, each buggy state, each relabelled step
    assert tree(corpus) == before  # the corpus itself is never written


def test_files_of_one_corpus_share_one_copy_and_one_check_of_the_shipped_tests(
    corpus: Path,
) -> None:
    (corpus / "util.py").write_text("def twice(x):\n    y = x * 2\n    return y\n")
    (corpus / "test_calc.py").write_text(TESTS.replace("from calc import clamp, double", "from calc import clamp, double\nfrom util import twice")
                                         + "\n    def test_twice(self):\n        self.assertEqual(twice(3), 6)\n")  # fmt: skip
    util_ok = "def twice(x):\n    y = x * 2\n    return y\n"
    util_bug = util_ok.replace("x * 2", "x * 3")
    records = [
        step(ORIGINAL, "correct", label=True),
        step(BUGGY.replace("return lo", "return hi"), "other-mutation"),
        StepRecord(
            before=util_bug,
            after=util_ok,
            diff="-",
            label=True,
            bug_id="u1",
            candidate="correct",
            source_path="proj/util.py",
        ),
        StepRecord(
            before=util_bug,
            after=util_ok.replace("x * 2", "x + x"),
            diff="-",
            label=False,
            bug_id="u1",
            candidate="near-miss",
            source_path="proj/util.py",
        ),
    ]
    labelled, stats = label_by_execution(records, corpus_planner([corpus], COMMAND))
    assert [r.label for r in labelled] == [True, False, True, True]  # x + x passes the tests too
    assert stats.files == 2 and stats.bugs_relabelled == 2
    assert stats.test_runs == 1 + 2 + 4  # one check of the shipped tests for both files
    assert stats.disagreements == {"near-miss": 1}


def test_a_corpus_whose_tests_fail_as_shipped_is_not_trusted(corpus: Path) -> None:
    (corpus / "test_calc.py").write_text(
        TESTS + "\n    def test_broken(self):\n        self.fail()\n"
    )
    records = [step(ORIGINAL, "correct", label=True), step(BUGGY, "near-miss")]
    labelled, stats = label_by_execution(records, corpus_planner([corpus], COMMAND))
    assert labelled == records and stats.files_untestable == 1 and stats.test_runs == 1


def test_files_without_tests_are_left_alone(corpus: Path) -> None:
    records = [step(ORIGINAL, "correct", label=True), step(BUGGY, "near-miss")]
    labelled, stats = label_by_execution(records, corpus_planner([corpus], None))
    assert labelled == records and stats.files_untestable == 1 and stats.test_runs == 0


def test_stdlib_plans_use_the_cpython_suite() -> None:
    plan = stdlib_plan(STDLIB / "textwrap.py")
    assert (
        plan is not None
        and plan.target == "textwrap.py"
        and plan.command.endswith("-m unittest -q test.test_textwrap")
    )
    package = stdlib_plan(STDLIB / "json" / "decoder.py")
    assert package is not None and package.copy_as == "json" and package.target == "json/decoder.py"
    assert stdlib_plan(STDLIB / "test" / "test_textwrap.py") is None  # the tests themselves
    assert stdlib_plan(Path(__file__)) is None  # outside the standard library


def test_cli_labels_by_tests_and_reports_what_it_did(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "steps.jsonl"
    code = run(
        ["prm", "data", "--corpus", str(corpus), "--out", str(out), "--test-cmd", COMMAND, "--json"]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    execution = summary["execution"]
    assert execution["files"] >= 1 and execution["testRuns"] >= 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    sources = {r["label_source"] for r in rows}
    assert sources <= {"execution", "equivalence"}
    assert sum(r["label_source"] == "execution" for r in rows) == execution["stepsRelabelled"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--test-cmd", "  "], "--test-cmd is empty"),
        (["--label-by-tests", "--trajectories", "TRAJ"], "needs mined steps"),
    ],
)
def test_cli_usage_errors(
    args: list[str], fragment: str, tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traj = tmp_path / "t.jsonl"
    traj.write_text(json.dumps({"steps": [{"before": "a", "after": "b"}], "outcome": 1}) + "\n")
    args = [str(traj) if a == "TRAJ" else a for a in args]
    extra = [] if "--trajectories" in args else ["--corpus", str(corpus)]
    assert run(["prm", "data", *extra, "--out", str(tmp_path / "o.jsonl"), *args]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
