"""The call localizer in a real test process: the workspace's modules win, failures are visible."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from codeprm.agents.verify import Sandbox

TEST_TW = """import textwrap
import unittest


class DedentTest(unittest.TestCase):
    def test_common_margin(self):
        self.assertEqual(textwrap.dedent("  a\\n    b\\n"), "a\\n  b\\n")

    def test_mixed_tabs_and_spaces(self):
        self.assertEqual(textwrap.dedent("\\t  a\\n\\t\\tb\\n"), "  a\\n\\tb\\n")
"""


def broken_textwrap_workspace(root: Path) -> Path:
    """A workspace holding its own textwrap.py (the standard library's, one bug in dedent)."""
    root.mkdir(parents=True)
    source = Path(textwrap.__file__).read_text("utf-8")
    assert source.count("if x != y:") == 1
    (root / "textwrap.py").write_text(source.replace("if x != y:", "if x == y:"), "utf-8")
    (root / "test_tw.py").write_text(TEST_TW, "utf-8")
    return root


def test_the_tests_run_against_the_workspace_textwrap(tmp_path: Path) -> None:
    ws = broken_textwrap_workspace(tmp_path / "ws")
    with Sandbox(ws, "python -m unittest -q test_tw", timeout=60) as box:
        run, rows = box.trace_calls(["textwrap.py"])
    assert not run.passed, run.output_tail  # the standard library's dedent would pass
    assert run.localizer_error is None
    outcomes = {
        (test.rpartition(".")[2], outcome)
        for test, outcome, path, _, name in rows
        if name == "dedent"
    }
    assert outcomes == {("test_common_margin", "pass"), ("test_mixed_tabs_and_spaces", "fail")}


def test_a_localizer_that_cannot_patch_unittest_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ws = tmp_path / "ws"
    (ws / "unittest").mkdir(parents=True)
    (ws / "unittest" / "__init__.py").write_text("", "utf-8")
    (ws / "unittest" / "case.py").write_text("class NotATestCase:\n    pass\n", "utf-8")
    (ws / "m.py").write_text("def f():\n    return 1\n", "utf-8")
    cmd = "python -c 'import unittest.case, m; m.f()'"
    with Sandbox(ws, cmd, timeout=60) as box:
        first, rows = box.trace_calls(["m.py"])
        second, _ = box.trace_calls(["m.py"])
    assert first.passed and rows  # calls are still recorded
    assert first.localizer_error is not None and "cannot patch unittest" in first.localizer_error
    assert first.to_json()["localizerError"] == first.localizer_error
    assert second.localizer_error == first.localizer_error
    warned = [r for r in caplog.records if "call localization degraded" in r.getMessage()]
    assert len(warned) == 1  # warned once, recorded on every run


def test_a_command_that_never_loads_the_recorder_is_reported(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "m.py").write_text("def f():\n    return 1\n", "utf-8")
    with Sandbox(ws, "PYTHONPATH= python -c 'import m; m.f()'", timeout=60) as box:
        run, rows = box.trace_calls(["m.py"])
    assert run.passed and rows == []
    assert run.localizer_error is not None and "PYTHONPATH" in run.localizer_error


def test_unittest_cases_run_by_pytest_keep_their_own_outcome(tmp_path: Path) -> None:
    """pytest runs a TestCase with a result object of its own (no ``failures`` list): the
    recorder must not turn such a test into an error (it made every luigi test fail)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "m.py").write_text("def f():\n    return 1\n", "utf-8")
    (ws / "test_m.py").write_text(
        "import unittest\n\nimport m\n\n\nclass T(unittest.TestCase):\n"
        "    def test_f(self):\n        self.assertEqual(m.f(), 1)\n",
        "utf-8",
    )
    with Sandbox(ws, "python -m pytest -q -p no:cacheprovider test_m.py", timeout=60) as box:
        run, rows = box.trace_calls(["m.py"])
    assert run.passed, run.output_tail
    assert run.localizer_error is None
    assert [(path, name) for _, _, path, _, name in rows] == [("m.py", "f")]


def test_a_command_of_several_lines_passes_only_when_every_line_does(tmp_path: Path) -> None:
    """The shell reports the last line's status: a failing first test line was a pass."""
    ws = tmp_path / "ws"
    ws.mkdir()
    with Sandbox(ws, "python -c 'raise SystemExit(1)'\npython -c 'pass'", timeout=60) as box:
        assert not box.run().passed
    with Sandbox(ws, "python -c 'pass'\npython -c 'pass'\n", timeout=60) as box:
        assert box.run().passed
