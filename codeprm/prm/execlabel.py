"""Labels by execution: run a real test command against every mined repair step.

Equivalence labels (``codeprm.prm.data``) call a step good only when it restores the
original function exactly (up to normalisation). Execution labels ask the tests instead:
the buggy file is the starting state, each candidate repair is written into a scratch
copy (``agents.verify.Sandbox``: time and memory caps, the test processes die with us)
and the step is good when the test command passes. So an alternative correct repair is
good, and a "correct" repair that the tests cannot tell from a wrong one is not trusted.

A bug is relabelled only when the tests are able to judge it: the original file must
pass and the buggy one must fail. Otherwise its steps keep their equivalence labels
(``label_source`` says which labels came from where).

Where the tests come from (a ``TestPlan`` per mined source file):

* the CPython standard library: a top-level module or package ``X`` whose test suite
  ``test.test_X`` ships with this Python is copied alone into a scratch directory that
  shadows the installed one (``PYTHONPATH=.``) and tested with ``python -m unittest``;
* any other corpus with ``--test-cmd CMD``: the corpus directory is copied and CMD runs
  at its root.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from codeprm.prm.data import function_span
from codeprm.prm.records import StepRecord

STDLIB = Path(sysconfig.get_paths()["stdlib"])


@dataclass(frozen=True)
class TestPlan:
    """How to test one source file: what to copy into a scratch root, and the command."""

    __test__ = False  # not a pytest class

    #: the directory or file copied as the scratch root's content, and its name there
    copy_from: Path
    copy_as: str
    #: the mined file, relative to the scratch root
    target: str
    command: str


def stdlib_test_module(name: str, stdlib: Path = STDLIB) -> str | None:
    """``test.test_NAME`` when this Python ships a test suite for the stdlib module NAME."""
    if (stdlib / "test" / f"test_{name}.py").is_file() or (
        stdlib / "test" / f"test_{name}" / "__init__.py"
    ).is_file():
        return f"test.test_{name}"
    return None


def stdlib_plan(path: Path, stdlib: Path = STDLIB) -> TestPlan | None:
    """The CPython test suite of the top-level module or package holding ``path``, if any."""
    try:
        parts = path.resolve().relative_to(stdlib.resolve()).parts
    except ValueError:
        return None
    if not parts or parts[0] in (
        "test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "lib2to3",
        "ensurepip",
    ):
        return None
    top = parts[0]
    name = top[:-3] if top.endswith(".py") else top
    module = stdlib_test_module(name, stdlib)
    if module is None or not name.isidentifier():
        return None
    command = (
        f"PYTHONPATH=.${{PYTHONPATH:+:$PYTHONPATH}} {shlex.quote(sys.executable)} -m "
        f"unittest -q {module}"
    )
    return TestPlan(stdlib / top, top, Path(*parts).as_posix(), command)


def command_plan(path: Path, root: Path, command: str) -> TestPlan | None:
    """The user's test command, run at the root of a copy of the corpus directory."""
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
    return TestPlan(
        root, root.name, f"{root.name}/{rel}", f"cd {shlex.quote(root.name)} && {command}"
    )


@dataclass
class ExecStats:
    files: int = 0
    files_untestable: int = 0  # no plan, or the original fails its own tests
    bugs_relabelled: int = 0
    bugs_undetected: int = 0  # the tests pass on the buggy file: kept equivalence labels
    steps_relabelled: int = 0
    #: steps whose execution label differs from their equivalence label, by candidate kind
    disagreements: dict[str, int] = field(default_factory=dict)
    test_runs: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "filesUntestable": self.files_untestable,
            "bugsRelabelled": self.bugs_relabelled,
            "bugsUndetected": self.bugs_undetected,
            "stepsRelabelled": self.steps_relabelled,
            "disagreements": dict(sorted(self.disagreements.items())),
            "testRuns": self.test_runs,
        }


@contextmanager
def _sandbox(plan: TestPlan, timeout: float, memory_mb: float | None) -> Iterator[Any]:
    from codeprm.agents.verify import Sandbox

    with tempfile.TemporaryDirectory(prefix="codeprm-execlabel-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        if plan.copy_from.is_dir():
            shutil.copytree(
                plan.copy_from,
                root / plan.copy_as,
                symlinks=True,
                ignore=shutil.ignore_patterns("__pycache__", ".git", ".venv", "node_modules"),
            )
        else:
            shutil.copy2(plan.copy_from, root / plan.copy_as)
        with Sandbox(root, plan.command, timeout=timeout, memory_mb=memory_mb) as sandbox:
            yield sandbox


def label_by_execution(
    records: Sequence[StepRecord],
    plan_for: Callable[[str], tuple[Path, TestPlan] | None],
    *,
    timeout: float = 60.0,
    memory_mb: float | None = 2048.0,
    on_file: Callable[[str, int, int], None] | None = None,
) -> tuple[list[StepRecord], ExecStats]:
    """The records with execution labels where the tests can judge them; order kept.

    ``plan_for(source_path)`` gives the real file behind a record's corpus-relative
    ``source_path`` and its test plan, or None when nothing tests it. Only mined repair
    steps (those with a ``correct`` candidate in their bug group) are relabelled.
    """
    stats = ExecStats()
    out = list(records)
    by_file: dict[str, dict[str, list[int]]] = {}
    for i, r in enumerate(records):
        if r.label_source == "equivalence" and r.bug_id and r.source_path:
            by_file.setdefault(r.source_path, {}).setdefault(r.bug_id, []).append(i)
    # one scratch copy (and one check that the tests pass as shipped) per copied tree: the
    # files of one corpus directory share them; each candidate run resets the copy first
    sandboxes: dict[tuple[Path, str, str], tuple[Any, bool]] = {}
    with ExitStack() as stack:
        for n, (source_path, bugs) in enumerate(sorted(by_file.items())):
            stats.files += 1
            if on_file is not None:
                on_file(source_path, n, len(by_file))
            found = plan_for(source_path)
            if found is None:
                stats.files_untestable += 1
                continue
            real, plan = found
            try:
                original_file = real.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                stats.files_untestable += 1
                continue
            key = (plan.copy_from, plan.copy_as, plan.command)
            if key not in sandboxes:
                sandbox = stack.enter_context(_sandbox(plan, timeout, memory_mb))
                sandbox.set_texts({})
                stats.test_runs += 1
                sandboxes[key] = (sandbox, sandbox.run().passed)
            sandbox, passes = sandboxes[key]
            if not passes:
                stats.files_untestable += 1  # the tests fail as shipped: they judge nothing
                continue
            for indices in bugs.values():
                group = [records[i] for i in indices]
                span = function_span(original_file, group)
                if span is None:
                    continue  # the function is not found exactly once: cannot place the edit
                start, end = span
                sandbox.set_texts(
                    {plan.target: original_file[:start] + group[0].before + original_file[end:]}
                )
                stats.test_runs += 1
                if sandbox.run().passed:
                    stats.bugs_undetected += 1
                    continue
                stats.bugs_relabelled += 1
                for i in indices:
                    record = records[i]
                    sandbox.set_texts(
                        {plan.target: original_file[:start] + record.after + original_file[end:]}
                    )
                    stats.test_runs += 1
                    passed = sandbox.run().passed
                    if passed != record.label:
                        stats.disagreements[record.candidate] = (
                            stats.disagreements.get(record.candidate, 0) + 1
                        )
                    out[i] = replace(record, label=passed, label_source="execution")
                    stats.steps_relabelled += 1
    return out, stats


def corpus_planner(
    roots: Sequence[Path], test_cmd: str | None
) -> Callable[[str], tuple[Path, TestPlan] | None]:
    """Map mined ``source_path`` values (``<root name>/<path>``) to files and test plans.

    Under the standard library the CPython suite is used; under any other root the user's
    ``test_cmd`` (None: that root is not tested).
    """
    resolved = [(Path(r), Path(r).resolve()) for r in roots]

    def plan_for(source_path: str) -> tuple[Path, TestPlan] | None:
        head, _, rest = source_path.partition("/")
        for given, root in resolved:
            if root.is_file():
                if given.name != source_path:
                    continue
                plan = (
                    TestPlan(root, root.name, root.name, test_cmd)
                    if test_cmd is not None
                    else stdlib_plan(root)
                )
                return None if plan is None else (root, plan)
            if root.name != head or not rest:
                continue
            path = root / rest
            if not path.is_file():
                continue
            if test_cmd is not None:
                plan = command_plan(path, root, test_cmd)
            elif root == STDLIB.resolve():
                plan = stdlib_plan(path)
            else:
                plan = None
            return None if plan is None else (path, plan)
        return None

    return plan_for
