"""Runs one execution fact (a doctest, a unittest or pytest test, a command) in a sandbox.

This file is copied into a scratch directory and run there as a script by
``codeprm.analysis.execfacts``, one process per test: it must import nothing from
codeprm and only the standard library (pytest only for a pytest id). Usage::

    python exec_runner.py RESULT_FILE KIND TARGET

KIND is ``doctest`` (TARGET ``pkg/mod.py::Class.method``), ``unittest`` (a dotted
test id), ``pytest`` (a ``path::name`` node id) or ``cmd`` (a shell command). The
working directory is the scratch copy of the workspace. The status is written as JSON
to RESULT_FILE: ``passed``, ``failed``, ``error``, ``missing``, ``skipped`` or
``forked`` (a child process was still alive when the test ended). A process that dies
without writing one is counted ``crashed`` by the caller, one that outlives its time
``timeout``.

It runs under the project's own interpreter, which may be old: the syntax stays that of
Python 3.6 (no ``from __future__ import annotations``; annotations the interpreter cannot
evaluate are quoted).
"""

import contextlib
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any


def _loopback_up() -> None:
    """In a fresh network namespace the loopback device is down: bring it up (best effort)."""
    try:
        import fcntl
        import socket
        import struct

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            ifr = struct.pack("16sh", b"lo", 0)
            flags = struct.unpack("16sh", fcntl.ioctl(s, 0x8913, ifr))[1]  # SIOCGIFFLAGS
            if not flags & 1:  # IFF_UP
                fcntl.ioctl(s, 0x8914, struct.pack("16sh", b"lo", flags | 1))  # SIOCSIFFLAGS
    except Exception:
        pass


def _import_root(rel: str) -> "tuple[Path, str]":
    """The sys.path entry and dotted module name of a workspace file (pytest's rootdir rule)."""
    path = Path(rel)
    parts = [path.stem] if path.name != "__init__.py" else []
    folder = path.parent
    while folder != Path(".") and (folder / "__init__.py").exists():
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def _lookup(module: Any, qualname: str) -> Any:
    obj = module
    for name in qualname.split("."):
        space = vars(obj) if hasattr(obj, "__dict__") else {}
        if name not in space:
            return None
        obj = space[name]
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        elif isinstance(obj, property):
            obj = obj.fget
    return obj


def run_doctest(target: str) -> str:
    import doctest

    rel, _, qualname = target.partition("::")
    folder, modname = _import_root(rel)
    sys.path.insert(0, str(folder.resolve()))
    try:
        module = importlib.import_module(modname)
    except BaseException:
        return "error"
    obj = _lookup(module, qualname)
    if obj is None:
        return "missing"
    finder = doctest.DocTestFinder(recurse=False)
    tests = finder.find(obj, f"{modname}.{qualname}", module=module, globs=dict(vars(module)))
    if not any(t.examples for t in tests):
        return "missing"
    runner = doctest.DocTestRunner(verbose=False)
    for test in tests:
        runner.run(test)
    return "failed" if runner.failures else "passed"


def run_unittest(test_id: str) -> str:
    import unittest

    for entry in ("src", "."):
        if Path(entry).is_dir():
            sys.path.insert(0, str(Path(entry).resolve()))
    suite = unittest.defaultTestLoader.loadTestsFromName(test_id)
    if any(type(t).__name__ == "_FailedTest" for t in _flatten(suite)):
        return "missing"
    result = unittest.TestResult()
    suite.run(result)
    if result.failures or result.errors or result.unexpectedSuccesses:
        return "failed"
    if result.skipped or result.expectedFailures or not result.testsRun:
        return "skipped"
    return "passed"


def _flatten(suite: Any) -> "list[Any]":
    out = []
    for t in suite:
        out.extend(_flatten(t) if hasattr(t, "__iter__") else [t])
    return out


def run_pytest(node_id: str) -> str:
    # as ``python -m pytest`` (the common form of a project's test command): the workspace root
    # (and ``src``) importable, whether or not the tests' own directories are packages
    for entry in ("src", "."):
        if Path(entry).is_dir():
            sys.path.insert(0, str(Path(entry).resolve()))
    import pytest

    code = pytest.main(["-q", "-p", "no:cacheprovider", "-rN", node_id])
    return {0: "passed", 1: "failed", 4: "missing", 5: "missing"}.get(int(code), "error")


def run_cmd(command: str) -> str:
    import subprocess

    return (
        "passed" if subprocess.run(command, shell=True, check=False).returncode == 0 else "failed"
    )


def _children_alive() -> bool:
    """Reap finished children; True when one is still running (the test left a process behind)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _stay_init(out: str) -> None:
    """In a fresh PID namespace this process is its init (PID 1); run the test in a child.

    A test must not run as PID 1: it has no parent (``os.getppid()`` is 0, so code that asks
    for its parent process, such as thefuck's shell detection, fails), and the kernel drops
    the signals it has no handler for (``os.kill(os.getpid(), SIGTERM)`` does nothing). So
    PID 1 forks, the child returns to run the test, and PID 1 waits for it and reaps. A
    process the test left behind is re-parented to PID 1, not to the test's process: PID 1
    then marks the result ``forked``, as the test's process would have (the namespace's
    processes all die when PID 1 exits).
    """
    child = os.fork()
    if child == 0:
        return
    while True:
        try:
            os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if _children_alive():
        with contextlib.suppress(OSError, ValueError):
            with open(out, encoding="utf-8") as f:
                json.load(f)  # a result exists (none: the caller counts a crash)
            with open(out, "w", encoding="utf-8") as f:
                json.dump({"status": "forked"}, f)
    os._exit(0)


def main(argv: "list[str]") -> None:
    out, kind, target = argv
    sys.path[:] = [
        p for p in sys.path if p and Path(p).resolve() != Path(__file__).parent.resolve()
    ]
    _loopback_up()
    if os.getpid() == 1:
        _stay_init(out)
    run = {"doctest": run_doctest, "unittest": run_unittest, "pytest": run_pytest, "cmd": run_cmd}[
        kind
    ]
    try:
        status = run(target)
    except BaseException:  # SystemExit from the code under test included
        status = "error"
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    if _children_alive():
        status = "forked"
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"status": status}, f)
    os._exit(0)  # threads or atexit handlers the code under test left must not hold the exit


if __name__ == "__main__":
    main(sys.argv[1:])
