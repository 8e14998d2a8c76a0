"""A daemon call's directory and streams are the call's own (``cli.call.Call``), never the process's.

``serve_request`` (the runner the daemon is given) and ``trace replay`` run a command line
inside a long-lived process. They must not ``os.chdir`` or point ``sys.stdout`` /
``sys.stdin`` / ``sys.stderr`` elsewhere for a call: calls from different client
directories then run side by side, each resolving its relative paths against its own
directory and writing to its own buffers. These tests use ``locate`` (tree-sitter, no
language server) so that they stay fast; ``tests/e2e/test_daemon.py`` does the same
through a real daemon and its language server.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codeprm.cli.main import run, serve_request
from codeprm.workbench import WorkbenchPool


def _workspace(base: Path, name: str, function: str) -> Path:
    root = base / name
    (root / ".git").mkdir(parents=True)  # a git top level, as find_root sees one
    (root / "pkg").mkdir()
    (root / "pkg" / "m.py").write_text(f"def {function}():\n    return 1\n", "utf-8")
    return root


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    return _workspace(tmp_path, "a", "alpha"), _workspace(tmp_path, "b", "beta")


@pytest.fixture
def pool() -> Iterator[WorkbenchPool]:
    pool = WorkbenchPool()
    yield pool
    pool.close()


class _Untouchable:
    """A process stream no call may use: any attribute access fails the test."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        raise AssertionError(f"a call used the process's sys.{self._name}.{attr}")


@pytest.fixture
def sealed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The process's streams and directory, made unusable by calls; yields the directory."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    def no_chdir(path: Any) -> None:
        raise AssertionError(f"a call changed the process's directory to {path}")

    monkeypatch.setattr(os, "chdir", no_chdir)
    for name in ("stdin", "stdout", "stderr"):
        monkeypatch.setattr(sys, name, _Untouchable(name))
    yield elsewhere
    assert os.getcwd() == str(elsewhere)


def _locate(cwd: Path, *extra: str) -> dict[str, Any]:
    return {
        "argv": ["locate", "pkg/m.py@L1:C5", "-w", "..", "--json", *extra],
        "cwd": str(cwd),
    }


def _in_process(
    cwd: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> dict[str, Any]:
    with monkeypatch.context() as m:
        m.chdir(cwd)
        assert run(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_calls_from_two_directories_run_side_by_side(
    two: tuple[Path, Path],
    pool: WorkbenchPool,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = two
    # what each client gets in its own process: the reference
    expected = {
        root: _in_process(root / "pkg", _locate(root / "pkg")["argv"], monkeypatch, capsys)
        for root in two
    }
    assert expected[a]["bundleId"] != expected[b]["bundleId"]

    rounds = 8
    barrier = threading.Barrier(2)
    got: dict[Path, list[dict[str, Any]]] = {a: [], b: []}
    failures: list[BaseException] = []

    def client(root: Path) -> None:
        try:
            for n in range(rounds):
                barrier.wait(timeout=30)  # both clients' calls start together
                # every other call records a trace, relative to the client's directory
                extra = ("--trace-file", "calls.jsonl") if n % 2 else ()
                got[root].append(serve_request(_locate(root / "pkg", *extra), pool))
        except BaseException as err:  # reported by the main thread
            failures.append(err)
            barrier.abort()

    threads = [threading.Thread(target=client, args=(root,)) for root in two]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    for root in two:
        assert len(got[root]) == rounds
        for reply in got[root]:
            assert reply["exit"] == 0, reply["stderr"]
            assert reply["stderr"] == ""
            bundle = json.loads(reply["stdout"])
            assert bundle["bundleId"] == expected[root]["bundleId"]
            assert bundle["request"] == expected[root]["request"]
        # the traced calls wrote their traces in their own client's directory
        traces = (root / "pkg" / "calls.jsonl").read_text("utf-8").splitlines()
        begins = [json.loads(line) for line in traces if '"begin"' in line]
        assert len(begins) == rounds // 2
        assert {r["cwd"] for r in begins} == {str(root / "pkg")}
    # the pool kept one warm Workbench per workspace
    assert {bench.root for bench in pool.benches()} == {a.resolve(), b.resolve()}


def test_a_call_never_touches_the_process_directory_or_streams(
    two: tuple[Path, Path], pool: WorkbenchPool, sealed: Path
) -> None:
    a, _ = two
    # rendered for people (rich), as JSON, and as an error line: all into the call's buffers
    human = serve_request(
        {"argv": ["locate", "pkg/m.py@L1:C5", "-w", ".."], "cwd": str(a / "pkg")}, pool
    )
    assert human["exit"] == 0 and human["stdout"].startswith("pkg/m.py:L1:C5")
    assert "def alpha" in human["stdout"]
    as_json = serve_request(_locate(a / "pkg"), pool)
    assert as_json["exit"] == 0 and json.loads(as_json["stdout"])["request"]["operation"]
    failed = serve_request(
        {"argv": ["locate", "pkg/none.py@L1:C1", "-w", ".."], "cwd": str(a / "pkg")}, pool
    )
    assert failed["exit"] == 3 and failed["stdout"] == ""
    assert failed["stderr"].startswith("codeprm: error:") and failed["stderr"].count("\n") == 1
    # a relative -w names the client's directory's parent, not the process's
    missing = serve_request({"argv": ["diag", "-w", "nope"], "cwd": str(a)}, pool)
    assert (
        missing["exit"] == 3 and f"workspace {a / 'nope'} is not a directory" in missing["stderr"]
    )
    # stdin is the client's: a hook payload that is not an edit is none of the hook's business
    hook = serve_request(
        {
            "argv": ["hook", "claude-code"],
            "cwd": str(a),
            "stdin": json.dumps({"tool_name": "Read", "tool_input": {}}),
        },
        pool,
    )
    assert hook == {"exit": 0, "stdout": "", "stderr": ""}
    # batch reads its stdin as bytes (before: the daemon's StringIO stdin had no buffer, exit 1)
    batch = serve_request(
        {"argv": ["batch", "-"], "cwd": str(a), "stdin": '{"id": 7, "op": "nope"}\n'}, pool
    )
    assert batch["exit"] == 2 and batch["stderr"] == ""
    assert json.loads(batch["stdout"]) == {
        "id": 1,  # a request that fails its checks is named by its line
        "exitCode": 2,
        "error": "line 1: unknown op 'nope' (known: diag, def, refs, hover, symbols, step)",
    }
    bad_hook = serve_request(
        {"argv": ["hook", "claude-code"], "cwd": str(a), "stdin": "not json"}, pool
    )
    assert bad_hook["exit"] == 1 and "hook" in bad_hook["stderr"].lower()


def test_trace_replay_runs_in_the_recorded_directory_without_chdir(
    two: tuple[Path, Path], pool: WorkbenchPool, sealed: Path
) -> None:
    from codeprm.cli.call import Call

    a, _ = two
    recorded = serve_request(_locate(a / "pkg", "--trace-file", "t.jsonl"), pool)
    assert recorded["exit"] == 0
    # replayed from elsewhere (the sealed process directory): relative paths are the trace's
    import io

    call = Call(stdout=io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True))
    call.stderr = io.StringIO()
    assert run(["trace", "replay", str(a / "pkg" / "t.jsonl")], call=call) == 0
    call.stdout.flush()  # type: ignore[union-attr]
    out = call.stdout.buffer.getvalue().decode()  # type: ignore[union-attr]
    assert "1 bundle(s) identical" in out, call.stderr.getvalue()  # type: ignore[union-attr]
