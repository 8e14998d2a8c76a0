"""Execution facts of a state: the doctests and tests that exercise the edited code, run.

Two parts. ``select`` is pure: from the texts before and after a step and the changed
paths it names what to run, and the same selection is measured in both states (so the
facts of the two states are comparable). ``measure`` is IO: it materialises a snapshot
in a scratch copy of the workspace (``agents.verify.Sandbox``; the user's files are
never written) and runs each selected item in its own process, bounded in time, memory
and processes, with no network where the kernel lets an unprivileged user create
namespaces (``unshare -rn --pid --mount-proc``; then every process a test starts dies with it;
the test runs as PID 2 under a waiting PID 1, so it has a parent, as under a shell).

Counting: each selected definition's doctest is one test (passed when all its examples
pass), each selected test id one test, the user's ``--test-cmd`` one test (exit status
0), unless it only names tests (``pytest a.py::T::t ...``, ``python -m unittest -q
pkg.mod.T.t ...``, one or more such commands joined by ``&&``, ``;`` or newlines:
``command_tests``): then each named test is one test, run on its own by the command's
interpreter (``/env/bin/python -m pytest ...`` runs under ``/env/bin/python``). Only ``passed``
counts as passed; ``failed``, ``timeout``, ``crashed`` (the process
died without a verdict: ``os._exit``, a segfault, the memory cap), ``forked`` (a process
it started was still alive when it ended), ``error`` (the module does not import),
``missing`` (the definition, its examples or the test is absent in this state) and
``skipped`` (a skipped or expected-failure test) count as failed. Deleting a failing
doctest or test therefore does not raise the reward; ``weakened.weakened_tests``
reports it.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import functools
import hashlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeprm.agents.verify import Sandbox
from codeprm.analysis import pyast
from codeprm.errors import UsageError

MODES = ("none", "doctest", "tests")
STATUSES = ("passed", "failed", "timeout", "crashed", "forked", "error", "missing", "skipped")
_RUNNER = Path(__file__).with_name("exec_runner.py")
#: room for the processes a test may start legitimately, above those the user already runs
_NPROC_HEADROOM = 256


# -- selection (pure) ---------------------------------------------------------------


@dataclass(frozen=True)
class ExecSelection:
    """What to run: a function of (before, after, changed), the same for both states."""

    mode: str
    #: ``path::qualname`` of edited definitions (present before or after) with doctests
    doctests: tuple[str, ...] = ()
    #: test ids whose recorded calls reach edited code (mode ``tests``), sorted
    tests: tuple[str, ...] = ()
    #: the user's command, run as one test when no coverage selected tests (mode ``tests``)
    test_cmd: str | None = None
    #: the interpreter the tests run under (a test command's own ``python``); None: codeprm's
    python: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mode": self.mode,
            "doctests": list(self.doctests),
            "tests": list(self.tests),
            "testCmd": self.test_cmd,
        }
        if self.python is not None:  # only when given: earlier bundles keep their shape
            out["python"] = self.python
        return out

    @property
    def empty(self) -> bool:
        return not (self.doctests or self.tests or self.test_cmd)


@dataclass(frozen=True)
class _Def:
    own: str  # the text that makes it edited (a class: without its nested definitions)
    doctest: bool  # its docstring holds doctest examples


def _has_examples(node: ast.AST) -> bool:
    import doctest

    doc = ast.get_docstring(node, clean=True)  # type: ignore[arg-type]
    try:
        return bool(doc) and bool(doctest.DocTestParser().get_examples(doc))
    except ValueError:  # a malformed example (bad indentation): doctest cannot run it either
        return False


#: a definition's _Def by its kind and lines (``pyast.statement_lines``), which determine it:
#: an edit recomputes only the definitions whose lines it touched
_DEFS: dict[tuple[str, str], _Def] = {}
_DEFS_CAPACITY = 8192
_DEFS_LOCK = threading.Lock()


@functools.lru_cache(
    maxsize=64
)  # a step reads each text four times; a warm daemon, the same start again
def _definitions(text: str | None) -> dict[str, _Def]:
    """Reachable definitions (module level and in class bodies) by qualname; {} if unparsable.

    Cached: callers only read the answer.
    """
    if text is None:
        return {}
    tree = pyast.parse(text)
    if tree is None:
        return {}
    lines = pyast.source_lines(text)
    out: dict[str, _Def] = {}

    def known(kind: str, node: ast.stmt) -> tuple[tuple[str, str], _Def | None]:
        key = (kind, pyast.statement_lines(lines, node))
        return key, _DEFS.get(key)

    def remember(key: tuple[str, str], value: _Def) -> _Def:
        with _DEFS_LOCK:
            if len(_DEFS) >= _DEFS_CAPACITY:
                _DEFS.pop(next(iter(_DEFS)), None)
            _DEFS[key] = value
        return value

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                key, value = known("def", node)
                out[prefix + node.name] = value or remember(
                    key, _Def(ast.dump(node), _has_examples(node))
                )
            elif isinstance(node, ast.ClassDef):
                key, value = known("class", node)
                if value is None:
                    shell = copy.copy(node)  # the tree is shared: never change its nodes
                    shell.body = [
                        s
                        for s in node.body
                        if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                    ]
                    value = remember(key, _Def(ast.dump(shell), _has_examples(node)))
                out[prefix + node.name] = value
                walk(node.body, prefix + node.name + ".")

    walk(tree.body, "")
    return out


def _module_residue(text: str | None) -> str | None:
    """The module's own statements (not its definitions), position-free; None if unparsable."""
    if text is None:
        return ""
    tree = pyast.parse(text)
    if tree is None:
        return None
    return "\n".join(
        ast.dump(s)
        for s in tree.body
        if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    )


def edited_definitions(
    before: Mapping[str, str], after: Mapping[str, str], changed: Sequence[str]
) -> dict[str, set[str]]:
    """Per changed Python file, the qualnames whose own text differs (or exist in one state)."""
    out: dict[str, set[str]] = {}
    for path in sorted(set(changed)):
        if not path.endswith(".py"):
            continue
        b, a = _definitions(before.get(path)), _definitions(after.get(path))
        out[path] = {q for q in b.keys() | a.keys() if (q in b) != (q in a) or b[q].own != a[q].own}
    return out


@dataclass(frozen=True)
class CommandTests:
    """The tests a test command names, and the interpreter it runs them with (None: unnamed)."""

    python: str | None
    tests: tuple[str, ...]


_PYTHON = re.compile(r"^python(\d+(\.\d+)*)?$")
_PYTEST_FLAGS = frozenset(
    {
        "-q",
        "-qq",
        "-v",
        "-vv",
        "-x",
        "-s",
        "-l",
        "--quiet",
        "--verbose",
        "--exitfirst",
        "--no-header",
        "-rN",
    }
)
_UNITTEST_FLAGS = frozenset(
    {"-q", "-v", "-b", "-f", "-c", "--quiet", "--verbose", "--buffer", "--failfast", "--catch"}
)


def _one_command(tokens: list[str]) -> tuple[str | None, list[str]] | None:
    """(interpreter or None, test ids) of one ``pytest`` / ``python -m pytest|unittest`` command."""
    python: str | None = None
    if tokens and _PYTHON.match(Path(tokens[0]).name):
        python = (
            tokens[0] if "/" in tokens[0] else None
        )  # a bare ``python``: whichever runs codeprm's tests
        if (
            len(tokens) < 3
            or tokens[1] != "-m"
            or tokens[2] not in ("pytest", "unittest", "py.test")
        ):
            return None
        runner, args = ("unittest" if tokens[2] == "unittest" else "pytest"), tokens[3:]
    elif tokens and Path(tokens[0]).name in ("pytest", "py.test"):
        if "/" in tokens[0]:
            sibling = Path(tokens[0]).with_name("python")
            python = str(sibling) if sibling.exists() else None
        runner, args = "pytest", tokens[1:]
    else:
        return None
    flags = _UNITTEST_FLAGS if runner == "unittest" else _PYTEST_FLAGS
    ids = []
    for arg in args:
        if arg.startswith("-"):
            if arg not in flags and not (runner == "pytest" and arg.startswith("--tb=")):
                return None  # an option that may take a value or change what runs: not ours to read
            continue
        if runner == "unittest" and ("/" in arg or arg.endswith(".py") or "::" in arg):
            return None  # unittest's file and pattern forms select more than one test
        if runner == "pytest" and "::" not in arg and not arg.endswith(".py"):
            return None  # a directory or a -k-like selection: count the command as one
        ids.append(arg)
    return (python, ids) if ids else None


def command_tests(command: str | None) -> CommandTests | None:
    """The tests a test command only names (each then counts as one test), or None.

    Recognised: ``pytest ID...``, ``python -m pytest ID...`` (pytest node ids or files) and
    ``python -m unittest ID...`` (dotted test ids), with quiet/verbose-like flags only, one
    or more joined by newlines, ``&&`` or ``;``. A command naming an interpreter by path
    (``/env/bin/python -m pytest``, ``/env/bin/pytest``) runs its tests under it; all parts
    must agree on it. Anything else (other options, shell syntax, other programs) is None:
    the command is then run as it is and counted as one test.
    """
    if not command:
        return None
    python: str | None = None
    tests: list[str] = []
    parts = [p.strip() for p in re.split(r"\n|&&|;", command)]
    for n, part in enumerate(p for p in parts if p):
        try:
            tokens = shlex.split(part)
        except ValueError:
            return None
        if any(t in ("|", "||", "&", ">", "<") or t.startswith((">", "<", "$")) for t in tokens):
            return None
        got = _one_command(tokens)
        if got is None or (n and got[0] != python):
            return None
        python = got[0]
        tests += [t for t in got[1] if t not in tests]
    return CommandTests(python, tuple(tests)) if tests else None


def _is_pytest_id(test_id: str) -> bool:
    """A pytest node id or file (``a/b.py::T::t``, ``a/b.py``), not a dotted unittest id."""
    return "::" in test_id or test_id.endswith(".py") or "/" in test_id


def _test_definition(test_id: str, paths: set[str]) -> tuple[str, str] | None:
    """(path, qualname) of a dotted unittest id among ``paths`` (``src/`` layouts too)."""
    parts = test_id.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module = "/".join(parts[:i])
        for path in (f"{module}.py", f"src/{module}.py"):
            if path in paths:
                return path, ".".join(parts[i:])
    return None


def select(
    before: Mapping[str, str],
    after: Mapping[str, str],
    changed: Sequence[str],
    mode: str,
    *,
    root: Path | None = None,
    test_cmd: str | None = None,
    coverage: Mapping[str, Sequence[str]] | None = None,
) -> ExecSelection:
    """What to run before and after a step.

    ``doctest``: the doctests of the definitions the step edited (functions whose text
    changed, classes whose own statements changed or one of whose methods did, and
    definitions added or removed) that carry examples in either state. ``tests``: those
    doctests, plus the tests whose recorded calls (``coverage``: test id -> called
    ``path::qualname``, as ``record_coverage`` gives) reach an edited definition, or a
    changed module's own statements, or whose own definition was edited; without
    ``coverage``, or when it attributed no call to any test (pytest-style tests), the
    user's ``test_cmd`` is run as one test. A ``test_cmd`` that only names
    tests (``command_tests``) selects exactly those, each one test, whatever the coverage:
    the user said what exercises the edit. ``root`` is accepted for
    symmetry with ``measure`` and not read: selection never touches the disk.
    """
    del root
    if mode not in MODES:
        raise UsageError(
            f"unknown execution facts mode {mode!r} (expected one of {', '.join(MODES)})"
        )
    if mode == "none":
        return ExecSelection("none")
    edited = edited_definitions(before, after, changed)
    doctests: set[str] = set()
    for path, names in edited.items():
        b, a = _definitions(before.get(path)), _definitions(after.get(path))
        owners = names | {
            q.rsplit(".", 1)[0] for q in names if "." in q
        }  # a class whose method changed
        doctests |= {
            f"{path}::{q}" for q in owners if (q in b and b[q].doctest) or (q in a and a[q].doctest)
        }
    if mode == "doctest":
        return ExecSelection("doctest", tuple(sorted(doctests)))
    named = command_tests(test_cmd)
    if named is not None:
        return ExecSelection("tests", tuple(sorted(doctests)), named.tests, None, named.python)
    if not coverage:
        # no coverage, or a run that attributed no call to a test (pytest-style tests: the
        # recorder attributes unittest tests only): the command runs as one test
        return ExecSelection("tests", tuple(sorted(doctests)), (), test_cmd)
    residue_changed = {
        p for p in edited if _module_residue(before.get(p)) != _module_residue(after.get(p))
    }
    known = set(before) | set(after)
    tests: set[str] = set()
    for test_id, called in coverage.items():
        own = _test_definition(test_id, known)
        if own is not None and own[0] in edited and _reaches(own[1], edited[own[0]]):
            tests.add(test_id)
            continue
        for item in called:
            path, _, qualname = item.partition("::")
            if path in residue_changed or _reaches(qualname, edited.get(path, set())):
                tests.add(test_id)
                break
    return ExecSelection("tests", tuple(sorted(doctests)), tuple(sorted(tests)))


def _reaches(qualname: str, edited: set[str]) -> bool:
    """A called qualname (``f.<locals>.g``, ``C.m``) lies in, or is, an edited definition."""
    parts = qualname.split(".<locals>.")[0].split(".")
    return any(".".join(parts[:i]) in edited for i in range(len(parts), 0, -1))


# -- measurement (IO) ----------------------------------------------------------------


@dataclass(frozen=True)
class ExecFacts:
    """The outcome of a selection in one state."""

    passed: int
    failed: int
    #: (id, status), sorted; ids are ``doctest:path::qualname``, ``test:<id>``, ``cmd:<command>``
    outcomes: tuple[tuple[str, str], ...] = ()
    #: how tests were isolated: ``netns+pidns`` or ``none`` (no namespaces: network open)
    isolation: str = "none"
    #: wall time of the measurement (volatile: not in ``to_json``)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """Deterministic for the same inputs: no timings."""
        return {
            "passed": self.passed,
            "failed": self.failed,
            "outcomes": [list(o) for o in self.outcomes],
            "isolation": self.isolation,
        }


def _items(selection: ExecSelection) -> list[tuple[str, str, str]]:
    """(fact id, runner kind, target) in a fixed order."""
    items = [(f"doctest:{d}", "doctest", d) for d in selection.doctests]
    items += [
        (f"test:{t}", "pytest" if _is_pytest_id(t) else "unittest", t) for t in selection.tests
    ]
    if selection.test_cmd:
        items.append((f"cmd:{selection.test_cmd}", "cmd", selection.test_cmd))
    return items


def snapshot_key(
    texts: Mapping[str, str | None],
    selection: ExecSelection,
    *,
    timeout: float,
    memory_mb: int,
    isolate: bool = True,
) -> str:
    """sha256 of a snapshot, a selection and the caps: the memo key of ``measure``."""
    body = json.dumps(
        [
            sorted(texts.items(), key=lambda kv: kv[0]),
            selection.to_json(),
            timeout,
            memory_mb,
            isolate,
        ],
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@functools.cache
def isolation_prefix() -> tuple[str, ...]:
    """``unshare`` arguments that give a test no network and a PID namespace, or () if refused.

    The namespace gets its own ``/proc`` (``--mount-proc``) where the kernel allows it:
    without it ``/proc`` still shows the host's processes, so a test that looks itself or
    its parent up there (psutil) reads another process. ``CODEPRM_EXEC_ISOLATION=none``
    turns it off. The probe runs once per process.
    """
    if os.environ.get("CODEPRM_EXEC_ISOLATION", "auto") == "none" or not sys.platform.startswith(
        "linux"
    ):
        return ()
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    base = (unshare, "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child")
    for prefix in ((*base, "--mount-proc"), base):
        try:
            ok = (
                subprocess.run(
                    [*prefix, "true"], capture_output=True, timeout=10, check=False
                ).returncode
                == 0
            )
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return prefix
    return ()


def _user_processes() -> int | None:
    try:
        uid = os.getuid()
        return sum(1 for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == uid)
    except OSError:
        return None


def _owner(proc_dir: Path) -> int | None:
    try:
        return proc_dir.stat().st_uid
    except OSError:
        return None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _libc() -> Any:
    """The C library (for prctl), or None where it cannot be loaded."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True)
    except (OSError, ImportError):
        return None


def _run_item(
    sandbox: Sandbox,
    runner: Path,
    python: str,
    n: int,
    kind: str,
    target: str,
    timeout: float,
    memory_mb: int,
    prefix: tuple[str, ...],
) -> str:
    """Run one item in its own process group; its status."""
    result = sandbox.scratch / "exec" / f"result-{n}.json"
    log = sandbox.scratch / "exec" / f"output-{n}.txt"
    result.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "CODEPRM_NO_DAEMON": "1",
        "PYTHONHASHSEED": "0",
    }
    limit = int(memory_mb) * 1024 * 1024
    users = _user_processes()
    libc = (
        _libc()
    )  # loaded here: the child cannot map a shared object once its address space is capped

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if users is not None:  # a fork bomb stops at the cap instead of filling the machine
            n_cap = users + _NPROC_HEADROOM
            hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
            if hard == resource.RLIM_INFINITY or n_cap < hard:
                resource.setrlimit(resource.RLIMIT_NPROC, (n_cap, n_cap))
        if libc is not None:
            libc.prctl(1, signal.SIGKILL)  # die with codeprm

    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [*prefix, python, str(runner), str(result), kind, target],
            cwd=sandbox.copy,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=cap,
        )
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.wait()
            return "timeout"
        except BaseException:
            _kill_group(proc.pid)
            raise
    leftover = _group_alive(proc.pid)
    if leftover:  # a child it started outlived it (double forks into the same group too)
        _kill_group(proc.pid)
    try:
        status = json.loads(result.read_text("utf-8"))["status"]
    except (OSError, ValueError, KeyError):
        return "crashed"
    if status not in STATUSES:
        return "error"
    return "forked" if leftover and status == "passed" else status


def measure(
    root: Path,
    texts: Mapping[str, str | None],
    selection: ExecSelection,
    *,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    sandbox: Sandbox | None = None,
    memo: MutableMapping[str, ExecFacts] | None = None,
    python: str | None = None,
    isolate: bool = True,
) -> ExecFacts:
    """Run ``selection`` in a scratch copy of ``root`` holding ``texts``; count the outcomes.

    ``texts`` maps workspace-relative POSIX paths to their text in this state (None:
    absent); every other file comes from ``root``. Each item runs in its own process
    under ``timeout`` seconds and ``memory_mb`` of address space, with ``python``
    (default: the selection's own, else this interpreter), in fresh namespaces when ``isolate`` and
    the kernel allows
    (``ExecFacts.isolation`` says which). ``sandbox`` reuses an existing scratch copy (its texts
    are replaced); ``memo``, keyed by ``snapshot_key``, makes measuring a state twice free.
    The user's workspace is only read.
    """
    key = snapshot_key(texts, selection, timeout=timeout, memory_mb=memory_mb, isolate=isolate)
    if memo is not None and key in memo:
        return memo[key]
    started = time.perf_counter()
    items = _items(selection)
    prefix = isolation_prefix() if items and isolate else ()
    outcomes: list[tuple[str, str]] = []
    if items:
        with _sandbox(root, sandbox, timeout, memory_mb) as box:
            box.set_texts(texts)
            (box.scratch / "exec").mkdir(exist_ok=True)
            runner = box.scratch / "exec" / "runner" / "exec_runner.py"
            runner.parent.mkdir(exist_ok=True)
            runner.write_text(_RUNNER.read_text("utf-8"), "utf-8")
            for n, (fact_id, kind, target) in enumerate(items):
                outcomes.append(
                    (
                        fact_id,
                        _run_item(
                            box,
                            runner,
                            python or selection.python or sys.executable,
                            n,
                            kind,
                            target,
                            timeout,
                            memory_mb,
                            prefix,
                        ),
                    )
                )
    outcomes.sort()
    passed = sum(1 for _, s in outcomes if s == "passed")
    facts = ExecFacts(
        passed,
        len(outcomes) - passed,
        tuple(outcomes),
        "netns+pidns" if prefix else "none",
        time.perf_counter() - started,
    )
    if memo is not None:
        memo[key] = facts
    return facts


@contextlib.contextmanager
def _sandbox(
    root: Path, given: Sandbox | None, timeout: float, memory_mb: int
) -> Iterator[Sandbox]:
    if given is not None:
        yield given
        return
    with Sandbox(root, "", timeout=timeout, memory_mb=memory_mb) as box:
        yield box


def record_coverage(
    root: Path,
    texts: Mapping[str, str | None],
    paths: Sequence[str],
    test_cmd: str,
    *,
    timeout: float = 120.0,
    memory_mb: int = 4096,
) -> dict[str, tuple[str, ...]]:
    """Run ``test_cmd`` once in a scratch copy; per unittest test id, the ``path::qualname`` it
    called in ``paths``.

    This is the repair loop's localizer (``Sandbox.trace_calls``); calls made outside a
    unittest test are not attributed to any test and left out.
    """
    with Sandbox(root, test_cmd, timeout=timeout, memory_mb=memory_mb) as box:
        box.set_texts(texts)
        _, rows = box.trace_calls(paths)
    out: dict[str, set[str]] = {}
    for test, _, path, _, qualname in rows:
        if test != "-":
            out.setdefault(test, set()).add(f"{path}::{qualname}")
    return {t: tuple(sorted(c)) for t, c in sorted(out.items())}
