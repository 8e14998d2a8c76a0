"""Execution facts: selection (pure) and measurement in the sandbox (real processes, real temp dirs)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from codeprm.analysis.execfacts import (
    CommandTests,
    ExecFacts,
    ExecSelection,
    command_tests,
    isolation_prefix,
    measure,
    record_coverage,
    select,
)
from codeprm.errors import UsageError

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="process groups and /proc"
)

CALC = '''\
"""A small calculator."""

SCALE = 1


def add(a, b):
    """Sum.

    >>> add(2, 3)
    5
    """
    return a - b


def mul(a, b):
    """Product.

    >>> mul(2, 3)
    6
    """
    return a * b


def plain(a):
    return a


class Acc:
    """An accumulator.

    >>> Acc().push(2).total
    2
    """

    def __init__(self):
        self.total = 0

    def push(self, x):
        self.total += x
        return self
'''
FIXED = CALC.replace("return a - b", "return a + b")

TESTS = """\
import unittest

from pkg.calc import add, mul


class TestCalc(unittest.TestCase):
    def test_add(self):
        self.assertEqual(add(2, 3), 5)

    def test_mul(self):
        self.assertEqual(mul(2, 3), 6)
"""


def make_ws(tmp_path: Path, calc: str = CALC) -> Path:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "calc.py").write_text(calc)
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "test_calc.py").write_text(TESTS)
    return root


def tree_state(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def doctest_of(body: str) -> str:
    """A module whose function ``f`` runs ``body`` in its doctest."""
    lines = "\n".join(
        f"    >>> {line}" if not line.startswith(" ") else f"    ... {line}"
        for line in body.splitlines()
    )
    return f'import os, sys, time\n\n\ndef f():\n    """\n{lines}\n    """\n'


def run_one(
    tmp_path: Path, body: str, *, timeout: float = 10.0, isolate: bool = True
) -> tuple[ExecFacts, float]:
    root = make_ws(tmp_path)
    texts = {"pkg/probe.py": doctest_of(body)}
    started = time.perf_counter()
    facts = measure(
        root,
        texts,
        ExecSelection("doctest", ("pkg/probe.py::f",)),
        timeout=timeout,
        isolate=isolate,
    )
    return facts, time.perf_counter() - started


def processes_with(marker: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


# -- selection ----------------------------------------------------------------------


def test_doctest_selection_names_edited_definitions_with_examples() -> None:
    before = {"pkg/calc.py": CALC}
    assert select(before, {"pkg/calc.py": FIXED}, ["pkg/calc.py"], "doctest") == ExecSelection(
        "doctest", ("pkg/calc.py::add",)
    )
    # a method edit selects its class's doctest; an edit of a definition without examples selects nothing
    method = CALC.replace("self.total += x", "self.total = self.total + x")
    assert select(before, {"pkg/calc.py": method}, ["pkg/calc.py"], "doctest").doctests == (
        "pkg/calc.py::Acc",
    )
    assert (
        select(
            before,
            {"pkg/calc.py": CALC.replace("return a\n", "return a + 0\n")},
            ["pkg/calc.py"],
            "doctest",
        ).doctests
        == ()
    )
    # moving a definition is no edit; adding one with examples or deleting one is
    moved = (
        CALC.replace(CALC[CALC.index("def mul") : CALC.index("def plain")], "")
        + "\n\n"
        + CALC[CALC.index("def mul") : CALC.index("def plain")]
    )
    assert select(before, {"pkg/calc.py": moved}, ["pkg/calc.py"], "doctest").doctests == ()
    added = CALC + '\n\ndef neg(a):\n    """\n    >>> neg(1)\n    -1\n    """\n    return -a\n'
    assert select(before, {"pkg/calc.py": added}, ["pkg/calc.py"], "doctest").doctests == (
        "pkg/calc.py::neg",
    )
    assert select({"pkg/calc.py": added}, before, ["pkg/calc.py"], "doctest").doctests == (
        "pkg/calc.py::neg",
    )


def test_selection_modes_and_json() -> None:
    before, after = {"pkg/calc.py": CALC}, {"pkg/calc.py": FIXED}
    assert select(before, after, ["pkg/calc.py"], "none").empty
    with pytest.raises(UsageError):
        select(before, after, ["pkg/calc.py"], "everything")
    sel = select(before, after, ["pkg/calc.py"], "tests", test_cmd="python -m unittest")
    assert sel.to_json() == {
        "mode": "tests",
        "doctests": ["pkg/calc.py::add"],
        "tests": [],
        "testCmd": "python -m unittest",
    }
    coverage = {
        "tests.test_calc.TestCalc.test_add": ["pkg/calc.py::add"],
        "tests.test_calc.TestCalc.test_mul": ["pkg/calc.py::mul"],
        "tests.test_acc.T.test_push": ["pkg/calc.py::Acc.push", "pkg/calc.py::Acc.__init__"],
    }
    assert select(before, after, ["pkg/calc.py"], "tests", coverage=coverage).tests == (
        "tests.test_calc.TestCalc.test_add",
    )
    # a module-level statement changed: every test that calls into the module
    rescaled = {"pkg/calc.py": CALC.replace("SCALE = 1", "SCALE = 2")}
    assert len(select(before, rescaled, ["pkg/calc.py"], "tests", coverage=coverage).tests) == 3
    # a test whose own definition was edited is selected
    edited_test = {"tests/test_calc.py": TESTS.replace("mul(2, 3), 6", "mul(3, 2), 6")}
    assert select(
        {"tests/test_calc.py": TESTS},
        edited_test,
        ["tests/test_calc.py"],
        "tests",
        coverage=coverage,
    ).tests == ("tests.test_calc.TestCalc.test_mul",)


# -- measurement --------------------------------------------------------------------


def test_a_fix_turns_the_failing_doctest_into_a_passing_one(tmp_path: Path) -> None:
    root = make_ws(tmp_path)
    before, after = {"pkg/calc.py": CALC}, {"pkg/calc.py": FIXED}
    selection = select(before, after, ["pkg/calc.py"], "doctest")
    untouched = tree_state(root)
    facts_before = measure(root, before, selection)
    facts_after = measure(root, after, selection)
    assert facts_before.to_json()["outcomes"] == [["doctest:pkg/calc.py::add", "failed"]]
    assert (facts_before.passed, facts_before.failed) == (0, 1)
    assert (facts_after.passed, facts_after.failed) == (1, 0)
    assert facts_after.seconds > 0 and "seconds" not in facts_after.to_json()
    assert tree_state(root) == untouched  # nothing written, not even a bytecode cache


def test_measurement_is_deterministic_and_memoised(tmp_path: Path) -> None:
    root = make_ws(tmp_path)
    texts = {"pkg/calc.py": CALC}
    selection = ExecSelection(
        "doctest", ("pkg/calc.py::Acc", "pkg/calc.py::add", "pkg/calc.py::gone", "pkg/calc.py::mul")
    )
    first, second = measure(root, texts, selection), measure(root, texts, selection)
    assert first.to_json() == second.to_json()
    assert first.to_json()["outcomes"] == [
        ["doctest:pkg/calc.py::Acc", "passed"],
        ["doctest:pkg/calc.py::add", "failed"],
        ["doctest:pkg/calc.py::gone", "missing"],
        ["doctest:pkg/calc.py::mul", "passed"],
    ]
    memo: dict[str, ExecFacts] = {}
    cached = measure(root, texts, selection, memo=memo)
    started = time.perf_counter()
    assert measure(root, texts, selection, memo=memo) is cached
    assert time.perf_counter() - started < 0.05
    assert (
        measure(root, {"pkg/calc.py": FIXED}, selection, memo=memo).passed == 3 and len(memo) == 2
    )


@pytest.mark.parametrize("isolate", [True, False])
def test_a_hanging_doctest_is_capped_and_counted_failed(tmp_path: Path, isolate: bool) -> None:
    facts, seconds = run_one(tmp_path, "while True: pass", timeout=1.5, isolate=isolate)
    assert facts.outcomes == (("doctest:pkg/probe.py::f", "timeout"),) and facts.failed == 1
    assert seconds < 1.5 + 3.0


@pytest.mark.parametrize(
    "body", ["os._exit(0)", "import ctypes; ctypes.string_at(0)"], ids=["exit", "segfault"]
)
def test_a_crashing_doctest_is_counted_failed(tmp_path: Path, body: str) -> None:
    facts, _ = run_one(tmp_path, body)
    assert facts.outcomes == (("doctest:pkg/probe.py::f", "crashed"),) and (
        facts.passed,
        facts.failed,
    ) == (0, 1)


@pytest.mark.parametrize("isolate", [True, False])
@pytest.mark.parametrize("double", [False, True], ids=["child", "grandchild"])
def test_a_doctest_that_leaves_a_process_behind_is_killed_and_counted_failed(
    tmp_path: Path, isolate: bool, double: bool
) -> None:
    marker = f"{10007 + 2 * int(isolate) + int(double)}.{os.getpid()}"
    spawn = f'os.execvp("sleep", ["sleep", "{marker}"])'
    # the grandchild is orphaned at once: only the process group (or the PID namespace) still holds it
    body = f"pid = os.fork()\nif pid == 0:\n    {spawn if not double else 'os._exit(0) if os.fork() else ' + spawn}\n"
    if double:
        body += "time.sleep(0.3)\n"
    facts, seconds = run_one(tmp_path, body, timeout=5.0, isolate=isolate)
    assert facts.outcomes == (("doctest:pkg/probe.py::f", "forked"),) and facts.failed == 1
    assert seconds < 5.0  # noticed when the test ended, not at the time cap
    deadline = time.monotonic() + 2.0
    while processes_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(f"sleep {marker}") == []


def _old_python() -> str | None:
    """An interpreter older than 3.7 (pyenv's, or on PATH), or None."""
    import shutil

    found = sorted(Path.home().glob(".pyenv/versions/3.6*/bin/python3.6"))
    return str(found[0]) if found else shutil.which("python3.6")


@pytest.mark.skipif(_old_python() is None, reason="no Python 3.6 here")
def test_the_runner_runs_under_the_projects_old_python(tmp_path: Path) -> None:
    # a project's own environment may be old (BugsInPy pins Python 3.6 for cookiecutter): the
    # runner once used ``from __future__ import annotations`` and every test there 'crashed'
    root = make_ws(tmp_path)
    selection = ExecSelection(
        "tests", ("pkg/calc.py::mul",), ("tests.test_calc.TestCalc.test_add",)
    )
    facts = measure(root, {"pkg/calc.py": CALC}, selection, python=_old_python())
    assert facts.outcomes == (
        ("doctest:pkg/calc.py::mul", "passed"),
        ("test:tests.test_calc.TestCalc.test_add", "failed"),
    )


@pytest.mark.parametrize("isolate", [True, False])
def test_a_test_has_a_parent_and_sees_its_own_proc(tmp_path: Path, isolate: bool) -> None:
    # thefuck's rules find the user's shell as the test process's parent through psutil
    # (/proc): in the PID namespace the test ran as PID 1 (no parent) under the host's /proc
    if isolate and not isolation_prefix():
        pytest.skip("the kernel refuses unprivileged namespaces here")
    body = "assert os.getpid() != 1 and os.getppid() != 0, (os.getpid(), os.getppid())"
    if not isolate or "--mount-proc" in isolation_prefix():  # else /proc is the host's
        body += (
            "\nassert os.readlink('/proc/self') == str(os.getpid())"
            "\nassert os.path.exists(f'/proc/{os.getppid()}/comm')"
        )
    facts, _ = run_one(tmp_path, body, isolate=isolate)
    assert facts.outcomes == (("doctest:pkg/probe.py::f", "passed"),)


def test_a_small_fork_bomb_is_killed(tmp_path: Path) -> None:
    marker = f"10013.{os.getpid()}"
    body = f'for _ in range(40):\n    if os.fork() == 0:\n        os.execvp("sleep", ["sleep", "{marker}"])\n'
    facts, _ = run_one(tmp_path, body, timeout=5.0)
    assert facts.outcomes == (("doctest:pkg/probe.py::f", "forked"),)
    deadline = time.monotonic() + 2.0
    while processes_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_with(f"sleep {marker}") == []


def test_loopback_works_and_the_isolation_is_recorded(tmp_path: Path) -> None:
    body = "import socket\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\nsocket.create_connection(s.getsockname()).close()"
    facts, _ = run_one(tmp_path, body)
    assert facts.outcomes == (("doctest:pkg/probe.py::f", "passed"),)
    assert facts.isolation == ("netns+pidns" if isolation_prefix() else "none")


NO_ROUTE = '''\
import errno, socket


def f():
    """
    >>> f()
    'unreachable'
    """
    try:
        socket.create_connection(("192.0.2.1", 80), timeout=2).close()
    except OSError as e:
        return "unreachable" if e.errno == errno.ENETUNREACH else repr(e)
    return "connected"
'''


@pytest.mark.skipif(
    not isolation_prefix(), reason="the kernel refuses unprivileged namespaces here"
)
def test_no_network_in_isolation(tmp_path: Path) -> None:
    root = make_ws(tmp_path)
    facts = measure(
        root, {"pkg/net.py": NO_ROUTE}, ExecSelection("doctest", ("pkg/net.py::f",)), timeout=10
    )
    assert facts.outcomes == (
        ("doctest:pkg/net.py::f", "passed"),
    )  # ENETUNREACH at once: no route out


def test_tests_mode_selects_through_recorded_coverage(tmp_path: Path) -> None:
    root = make_ws(tmp_path)
    before, after = {"pkg/calc.py": CALC}, {"pkg/calc.py": FIXED}
    coverage = record_coverage(
        root, before, ["pkg/calc.py"], f"{sys.executable} -m unittest -q", timeout=60
    )
    assert coverage == {
        "tests.test_calc.TestCalc.test_add": ("pkg/calc.py::add",),
        "tests.test_calc.TestCalc.test_mul": ("pkg/calc.py::mul",),
    }
    selection = select(before, after, ["pkg/calc.py"], "tests", coverage=coverage)
    assert selection.tests == ("tests.test_calc.TestCalc.test_add",)
    untouched = tree_state(root)
    assert measure(root, before, selection).to_json()["outcomes"] == [
        ["doctest:pkg/calc.py::add", "failed"],
        ["test:tests.test_calc.TestCalc.test_add", "failed"],
    ]
    assert measure(root, after, selection).passed == 2
    # a deleted test counts as failed, a skipped one too
    gone = {**after, "tests/test_calc.py": TESTS.replace("def test_add", "def test_plus")}
    assert (
        dict(measure(root, gone, selection).outcomes)["test:tests.test_calc.TestCalc.test_add"]
        == "missing"
    )
    skipped = {
        **after,
        "tests/test_calc.py": TESTS.replace(
            "    def test_add", "    @unittest.skip('x')\n    def test_add"
        ),
    }
    assert (
        dict(measure(root, skipped, selection).outcomes)["test:tests.test_calc.TestCalc.test_add"]
        == "skipped"
    )
    assert tree_state(root) == untouched


def test_tests_mode_without_coverage_runs_the_command(tmp_path: Path) -> None:
    root = make_ws(tmp_path)
    selection = select(
        {"pkg/calc.py": CALC},
        {"pkg/calc.py": FIXED},
        ["pkg/calc.py"],
        "tests",
        test_cmd=f"{sys.executable} -m unittest -q",
    )
    cmd = f"cmd:{sys.executable} -m unittest -q"
    assert dict(measure(root, {"pkg/calc.py": CALC}, selection).outcomes)[cmd] == "failed"
    assert dict(measure(root, {"pkg/calc.py": FIXED}, selection).outcomes)[cmd] == "passed"


def test_measurement_works_in_a_process_that_never_imported_ctypes(tmp_path: Path) -> None:
    """The child's address space is capped before it execs, while it is still a copy of
    its parent: in a big parent (torch loaded), a shared object loaded then (ctypes, for
    prctl) fails to map. Loaded in the parent first, it works (the reward server hit this)."""
    import subprocess

    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from codeprm.analysis.execfacts import ExecSelection, measure\n"
        "assert 'ctypes' not in sys.modules\n"
        "import mmap\n"
        "reserved = mmap.mmap(-1, 4 << 30)  # a big parent (torch, a server): its address space is over the cap\n"
        "root = Path(sys.argv[1])\n"
        'texts = {\'pkg/probe.py\': \'def f():\\n    """\\n    >>> 1 + 1\\n    2\\n    """\\n\'}\n'
        "facts = measure(root, texts, ExecSelection('doctest', ('pkg/probe.py::f',)))\n"
        "print(facts.passed, facts.failed)\n"
    )
    root = make_ws(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", code, str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "0"]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("pytest tests/test_a.py::T::t", CommandTests(None, ("tests/test_a.py::T::t",))),
        ("python3 -m pytest -q a.py::t b.py", CommandTests(None, ("a.py::t", "b.py"))),
        (
            "/env/bin/python -m unittest -q test.test_u.T.t_1\n/env/bin/python -m unittest test.test_u.T.t_2",
            CommandTests("/env/bin/python", ("test.test_u.T.t_1", "test.test_u.T.t_2")),
        ),
        ("pytest a.py::t && pytest a.py::t", CommandTests(None, ("a.py::t",))),
        # not only naming tests: run as one command, counted as one test
        ("pytest -k add", None),
        ("pytest tests/", None),
        ("python -m unittest", None),
        ("python -m unittest discover -s tests", None),
        ("tox tests/test_a.py::t", None),
        ("pytest a.py::t | tee log", None),
        ("/a/bin/python -m pytest a.py::t; /b/bin/python -m pytest b.py::t", None),
        ("", None),
    ],
)
def test_command_tests_reads_only_commands_that_name_tests(
    command: str, expected: CommandTests | None
) -> None:
    assert command_tests(command) == expected


def test_a_command_naming_tests_counts_each_test_under_its_interpreter(tmp_path: Path) -> None:
    """A per-bug command (BugsInPy's run_test.sh) is one test per named test, under its python."""
    root = make_ws(tmp_path)
    venv = tmp_path / "env" / "bin"
    venv.mkdir(parents=True)
    python = venv / "python"
    python.symlink_to(sys.executable)  # another interpreter path, seen in the outcomes' memo key
    cmd = (
        f"{python} -m unittest -q tests.test_calc.TestCalc.test_add\n"
        f"{python} -m unittest -q tests.test_calc.TestCalc.test_mul"
    )
    before, after = {"pkg/calc.py": CALC}, {"pkg/calc.py": FIXED}
    selection = select(before, after, ["pkg/calc.py"], "tests", test_cmd=cmd)
    assert selection.tests == (
        "tests.test_calc.TestCalc.test_add",
        "tests.test_calc.TestCalc.test_mul",
    )
    assert selection.to_json()["python"] == str(python)
    got = measure(root, before, selection)
    assert dict(got.outcomes) == {
        "doctest:pkg/calc.py::add": "failed",
        "test:tests.test_calc.TestCalc.test_add": "failed",
        "test:tests.test_calc.TestCalc.test_mul": "passed",
    }
    assert (got.passed, got.failed) == (1, 2)
    assert measure(root, after, selection).passed == 3


def test_pytest_node_ids_and_files_run_as_pytest(tmp_path: Path) -> None:
    pytest_tests = "from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    root = make_ws(tmp_path)
    (root / "tests" / "test_py.py").write_text(pytest_tests)
    cmd = f"{sys.executable} -m pytest -q tests/test_py.py::test_add"
    selection = select(
        {"pkg/calc.py": CALC}, {"pkg/calc.py": FIXED}, ["pkg/calc.py"], "tests", test_cmd=cmd
    )
    assert selection.tests == ("tests/test_py.py::test_add",)
    test_id = "test:tests/test_py.py::test_add"
    assert dict(measure(root, {"pkg/calc.py": CALC}, selection).outcomes)[test_id] == "failed"
    assert dict(measure(root, {"pkg/calc.py": FIXED}, selection).outcomes)[test_id] == "passed"


def test_pytest_style_tests_run_the_command_as_one_test(tmp_path: Path) -> None:
    """The recorder attributes calls to unittest tests only: with pytest-style tests it
    attributes none, and the command must then run as one test (it selected nothing, and
    a real fix earned nothing from its tests)."""
    root = make_ws(tmp_path)
    (root / "tests" / "test_plain.py").write_text(
        "from pkg.calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
    )
    cmd = f"{sys.executable} -m pytest -q -p no:cacheprovider tests/test_plain.py"
    before, after = {"pkg/calc.py": CALC}, {"pkg/calc.py": FIXED}
    coverage = record_coverage(root, before, ["pkg/calc.py"], cmd, timeout=60)
    assert coverage == {}
    selection = select(before, after, ["pkg/calc.py"], "tests", test_cmd=cmd, coverage=coverage)
    assert selection.test_cmd == cmd and selection.tests == ()
    assert dict(measure(root, before, selection).outcomes)[f"cmd:{cmd}"] == "failed"
    assert dict(measure(root, after, selection).outcomes)[f"cmd:{cmd}"] == "passed"


def test_a_malformed_doctest_is_no_doctest_not_a_crash() -> None:
    """doctest's parser raises ValueError on an example whose output is indented less than
    its prompt; the selection raised with it (a step on such a file failed)."""
    bad = 'def f(x: int) -> int:\n    """Double.\n\n        >>> f(2)\n    4\n    """\n    return x * 2\n'
    fixed = bad.replace("x * 2", "x + x")
    selection = select({"m.py": bad}, {"m.py": fixed}, ["m.py"], "doctest")
    assert selection.doctests == ()
