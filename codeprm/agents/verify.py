"""Verification: run the user's test command against a candidate, in a scratch copy.

The user's workspace is never written while the agent searches: each candidate is
written into a private copy of the workspace (environments and VCS data left out) and
the test command runs there, bounded by a timeout. Pass means exit status 0.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from codeprm.analysis.files import SKIP_DIRS

log = logging.getLogger("codeprm.agents")

_SITECUSTOMIZE = """\
import sys
_preloaded = set(sys.modules)
import atexit, os, threading
_targets = set(os.environ.get("CODEPRM_LOCALIZE_FILES", "").split(os.pathsep)) - {""}
_current = ["-"]
_calls = {}
_outcome = {}
_errors = []
def _hook(frame, event, arg):
    if event == "call":
        code = frame.f_code
        if code.co_flags & 1 and code.co_filename in _targets:  # CO_OPTIMIZED: functions only
            name = getattr(code, "co_qualname", code.co_name)
            _calls.setdefault(_current[0], set()).add((code.co_filename, code.co_firstlineno, name))
def _counts(result):
    # failures and errors so far, where the result keeps them (unittest's TestResult); pytest
    # runs a TestCase with its own result object, which does not: no outcome, never an error
    failures, errors = getattr(result, "failures", None), getattr(result, "errors", None)
    if isinstance(failures, list) and isinstance(errors, list):
        return len(failures), len(errors)
    return None
def _patch_unittest(case):
    # attribute calls to the unittest test that made them, and remember its outcome
    original = case.TestCase.run
    def run(self, result=None):
        _current[0] = self.id()
        counts = _counts(result)
        try:
            return original(self, result)
        finally:
            if counts is not None:
                _outcome[self.id()] = "pass" if _counts(result) == counts else "fail"
            _current[0] = "-"
    case.TestCase.run = run
class _PatchOnImport:
    # unittest is patched when the test command imports it, never imported from here: its
    # imports (textwrap, pprint, difflib ...) would otherwise come from the standard library
    # before the workspace's directory is on sys.path, and shadow the workspace's modules
    def find_spec(self, name, path=None, target=None):
        if name != "unittest.case":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                loader, exec_module = spec.loader, spec.loader.exec_module
                def patched(module):
                    exec_module(module)
                    try:
                        _patch_unittest(module)
                    except Exception as err:
                        _errors.append(f"cannot patch unittest: {type(err).__name__}: {err}")
                class _Loader:
                    def create_module(self, spec):
                        return loader.create_module(spec)
                    def exec_module(self, module):
                        patched(module)
                spec.loader = _Loader()
                return spec
            if spec is not None:
                _errors.append("cannot patch unittest: its loader has no exec_module")
                return spec
        return None
def _dump():
    with open(os.environ["CODEPRM_LOCALIZE_OUT"], "a", encoding="utf-8") as f:
        f.write("#loaded\\t-\\n")
        for error in _errors:
            f.write("#error\\t" + " ".join(error.split()) + "\\n")
        for test, calls in _calls.items():
            for filename, first, name in sorted(calls):
                f.write(f"{test}\\t{_outcome.get(test, '-')}\\t{filename}\\t{first}\\t{name}\\n")
def _shadowed(name):
    # a module of the workspace's own (top-level file or package) with this name
    top = name.partition(".")[0]
    for base in filter(None, os.environ.get("CODEPRM_LOCALIZE_ROOTS", "").split(os.pathsep)):
        path = os.path.join(base, top)
        if os.path.isfile(path + ".py") or os.path.isdir(path):
            return True
    return False
if _targets:
    try:
        sys.setprofile(_hook)
        threading.setprofile(_hook)
        atexit.register(_dump)
        case = sys.modules.get("unittest.case")
        if case is not None:
            _patch_unittest(case)
        else:
            sys.meta_path.insert(0, _PatchOnImport())
        # what this file imported must not stand in for the workspace's own modules
        for _name in sorted(set(sys.modules) - _preloaded):
            if _name != __name__ and _shadowed(_name):
                del sys.modules[_name]
    except Exception as err:
        _errors.append(f"{type(err).__name__}: {err}")
"""


@dataclass(frozen=True)
class Suspect:
    """A function the tests called, with how suspicious the failing tests make it."""

    path: str
    first_line: int  # 1-based, as code objects count
    qualname: str
    score: float


def rank_suspects(rows: Sequence[tuple[str, str, str, int, str]]) -> list[Suspect]:
    """Ochiai over (test, outcome, path, first line, qualname) call records, best first.

    score(f) = failed(f) / sqrt(total_failed * (failed(f) + passed(f))). With no test
    outcome at all (not a unittest suite) every called function scores 1.
    """
    failing = {t for t, o, *_ in rows if o == "fail"}
    functions = {(p, first, q) for _, _, p, first, q in rows}
    if not failing:
        return sorted(
            (Suspect(p, first, q, 1.0) for p, first, q in functions),
            key=lambda s: (s.path, s.first_line),
        )
    failed: dict[tuple[str, int, str], set[str]] = {}
    passed: dict[tuple[str, int, str], set[str]] = {}
    for test, outcome, p, first, q in rows:
        (failed if outcome == "fail" else passed).setdefault((p, first, q), set()).add(test)
    out = []
    for key in functions:
        f, ok = len(failed.get(key, ())), len(passed.get(key, ()))
        score = f / math.sqrt(len(failing) * (f + ok)) if f else 0.0
        out.append(Suspect(*key, round(score, 12)))
    return sorted(out, key=lambda s: (-s.score, s.path, s.first_line))


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _die_with_parent() -> None:
    """Linux: the test process is killed when codeprm dies (a killed agent leaves no orphan)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass(frozen=True)
class TestRun:
    passed: bool
    exit_code: int | None  # None: timed out
    seconds: float
    output_tail: str
    #: why the call localizer recorded less than it should have (a localizing run only)
    localizer_error: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "passed": self.passed,
            "exitCode": self.exit_code,
            "seconds": round(self.seconds, 3),
            "outputTail": self.output_tail,
        }
        if self.localizer_error is not None:
            out["localizerError"] = self.localizer_error
        return out


class Sandbox:
    """A scratch copy of the workspace; texts are written into it, the command runs in it."""

    def __init__(
        self, root: Path, test_cmd: str, timeout: float = 120.0, memory_mb: float | None = 4096.0
    ) -> None:
        self.root = root
        self.test_cmd = test_cmd
        self.timeout = timeout
        #: address-space cap of each test process: a candidate that allocates without end
        #: (a mutated loop bound) fails its run instead of exhausting the machine
        self.memory_mb = memory_mb
        self._tmp = tempfile.TemporaryDirectory(prefix="codeprm-verify-")
        self.copy = Path(self._tmp.name) / root.name
        shutil.copytree(
            root,
            self.copy,
            symlinks=True,
            ignore=shutil.ignore_patterns(*(SKIP_DIRS - {"build", "dist"})),
        )
        self._written: dict[str, str | None] = {}
        self.runs = 0
        #: localizer failures already warned about (each is also on its TestRun)
        self.localizer_warnings: list[str] = []

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tmp.cleanup()

    def set_texts(self, texts: Mapping[str, str | None]) -> None:
        """Make the copy hold these texts (None: absent); earlier changes are undone first."""
        for rel, original in self._written.items():
            self._put(rel, original)
        self._written = {}
        for rel, text in texts.items():
            path = self.copy / rel
            self._written[rel] = path.read_text("utf-8") if path.exists() else None
            self._put(rel, text)

    def _put(self, rel: str, text: str | None) -> None:
        path = self.copy / rel
        if text is None:
            path.unlink(missing_ok=True)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        # a stale bytecode cache with the same mtime second could hide the new text
        for cache in path.parent.glob(f"__pycache__/{path.stem}.*.pyc"):
            cache.unlink(missing_ok=True)

    @property
    def scratch(self) -> Path:
        """A private directory beside the copy (not part of it), removed with the sandbox."""
        return Path(self._tmp.name)

    def called_functions(self, paths: Sequence[str]) -> tuple[TestRun, list[Suspect]]:
        """Run the tests once, recording which functions of ``paths`` they called.

        A ``sitecustomize`` put first on PYTHONPATH installs a profile hook in every Python
        process the command starts; it records the calls into the target files, per
        unittest test with its outcome when the suite is unittest-based. Functions are
        then ranked by Ochiai suspiciousness (called by failing tests, rarely by passing
        ones); without per-test outcomes every called function ranks the same. A command
        that replaces PYTHONPATH instead of extending it records nothing.
        """
        run, rows = self.trace_calls(paths)
        return run, rank_suspects(rows)

    def trace_calls(
        self, paths: Sequence[str]
    ) -> tuple[TestRun, list[tuple[str, str, str, int, str]]]:
        """Run the tests once; the raw (test, outcome, path, first line, qualname) call records."""
        trace_dir = Path(self._tmp.name) / "localize"
        trace_dir.mkdir(exist_ok=True)
        (trace_dir / "sitecustomize.py").write_text(_SITECUSTOMIZE, "utf-8")
        out = trace_dir / "calls.txt"
        out.unlink(missing_ok=True)
        copy = self.copy.resolve()
        targets = os.pathsep.join(str((self.copy / p).resolve()) for p in paths)
        extra = {
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(trace_dir), os.environ.get("PYTHONPATH", "")])
            ),
            "CODEPRM_LOCALIZE_FILES": targets,
            "CODEPRM_LOCALIZE_OUT": str(out),
            # the workspace's own modules: the localizer must not have imported their names
            "CODEPRM_LOCALIZE_ROOTS": os.pathsep.join([str(copy), str(copy / "src")]),
        }
        run = self.run(extra)
        rows = []
        errors: list[str] = []
        loaded = False
        if out.exists():
            for line in out.read_text("utf-8").splitlines():
                if line.startswith("#"):
                    kind, _, message = line.partition("\t")
                    loaded = loaded or kind == "#loaded"
                    if kind == "#error" and message not in errors:
                        errors.append(message)
                    continue
                test, outcome, filename, first, qualname = line.split("\t")
                rows.append(
                    (
                        test,
                        outcome,
                        Path(filename).resolve().relative_to(copy).as_posix(),
                        int(first),
                        qualname,
                    )
                )
        if not loaded and paths and run.exit_code is not None:  # a killed run dumps nothing
            errors.append(
                "no Python process of the test command loaded the call recorder (does it "
                "replace PYTHONPATH?)"
            )
        if errors:
            message = "; ".join(errors)
            run = replace(run, localizer_error=message)
            if message not in self.localizer_warnings:  # warned once per sandbox
                self.localizer_warnings.append(message)
                log.warning("codeprm: warning: call localization degraded: %s", message)
        return run, rows

    def run(self, extra_env: Mapping[str, str] | None = None) -> TestRun:
        self.runs += 1
        env = {
            **os.environ,
            "PYTHONDONTWRITEBYTECODE": "1",
            "CODEPRM_NO_DAEMON": "1",
            **(extra_env or {}),
        }
        started = time.perf_counter()
        limit = None if self.memory_mb is None else int(self.memory_mb * 1024 * 1024)

        def cap() -> None:
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            _die_with_parent()

        # a command of several lines passes only when every line does (the shell alone
        # would report the last line's status)
        command = f"set -e\n{self.test_cmd}" if "\n" in self.test_cmd.strip() else self.test_cmd
        proc = subprocess.Popen(
            command,
            shell=True,
            cwd=self.copy,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=cap,
        )
        try:
            output, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)  # a hanging test suite: the whole group, not just the shell
            output, _ = proc.communicate()
            return TestRun(False, None, time.perf_counter() - started, (output or "")[-4000:])
        except BaseException:  # interrupted: leave no test process behind
            _kill_group(proc)
            raise
        return TestRun(
            proc.returncode == 0,
            proc.returncode,
            time.perf_counter() - started,
            (output or "")[-4000:],
        )
