"""The warm daemon: same answers as in-process, used automatically, clean fallback when killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, assert_clean_error, check_bundle, run_cli

pytestmark = pytest.mark.e2e

LINES = [
    "value = 1",
    "value = undefined_a",
    "from pkg.geometry import area as _a",
    "_b: int = 'text'",
    "def _f() -> int:\n    return missing_b",
]


def edits(ws: Path, n: int) -> list[Path]:
    """n distinct diffs against pkg/app.py, some adding errors, some not."""
    original = (ws / "pkg/app.py").read_text()
    out = []
    for i in range(n):
        added = LINES[i % len(LINES)].replace("value", f"value_{i}") + "\n"
        diff = ["--- a/pkg/app.py", "+++ b/pkg/app.py", f"@@ -6,0 +7,{added.count(chr(10))} @@"]
        diff += ["+" + line for line in added.splitlines()]
        path = ws.parent / f"edit{i}.diff"
        path.write_text("\n".join(diff) + "\n")
        assert original.count("\n") == 6
        out.append(path)
    return out


@pytest.fixture
def ws(tmp_path: Path):
    root = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", root)
    yield root
    run_cli("daemon", "stop", "-w", str(root))


def test_daemon_answers_like_in_process_and_falls_back_when_killed(ws: Path) -> None:
    from codeprm.analysis.navigate import Analyzer
    from codeprm.analysis.step import StepEngine, score_edit

    diffs = edits(ws, 20)
    with Analyzer(root=ws) as an:
        engine = StepEngine(an)
        expected = [score_edit(engine, d.read_text()).bundle for d in diffs]
    started = run_cli("daemon", "start", "-w", str(ws), "--json", "--idle-timeout", "300")
    assert started.code == 0, started.err
    pid = json.loads(started.out)["pid"]
    for diff, want in zip(diffs, expected, strict=True):
        r = run_cli("step", str(diff), "-w", str(ws), "--json")
        assert r.code == 0, r.err
        got = check_bundle(json.loads(r.out))
        assert got["bundleId"] == want["bundleId"]
        assert got["processReward"] == want["processReward"]
    status = json.loads(run_cli("daemon", "status", "-w", str(ws), "--json").out)
    assert status["served"] == 20 and status["pid"] == pid and len(status["servers"]) == 1
    # an edit made behind the daemon's back (an editor) is seen by the next call
    app = ws / "pkg/app.py"
    app.write_text(app.read_text() + "broken_here\n")
    diag = json.loads(run_cli("diag", "pkg/app.py", "-w", str(ws), "--json").out)
    assert any("broken_here" in d["message"] for d in diag["facts"]["diagnostics"])
    app.write_text(app.read_text().replace("broken_here\n", ""))
    # kill it: the CLI falls back to running in-process, silently and correctly
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    r = run_cli("step", str(diffs[1]), "-w", str(ws), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["bundleId"] == expected[1]["bundleId"]
    assert r.err == ""
    stopped = run_cli("daemon", "stop", "-w", str(ws), "--json")
    assert stopped.code == 0 and json.loads(stopped.out)["stale"] is True
    assert_clean_error(run_cli("daemon", "status", "-w", str(ws)), 3, "no daemon")


def test_daemon_errors_keep_exit_codes_and_stop_cleanly(ws: Path) -> None:
    assert run_cli("daemon", "start", "-w", str(ws), "--idle-timeout", "300").code == 0
    assert_clean_error(run_cli("diag", "pkg/none.py", "-w", str(ws)), 3, "no such file")
    again = run_cli("daemon", "start", "-w", str(ws), "--json")
    assert json.loads(again.out)["alreadyRunning"] is True
    assert run_cli("daemon", "stop", "-w", str(ws)).code == 0
    assert not (ws / ".codeprm" / "daemon.json").exists()


# -- who may talk to the daemon ----------------------------------------------------------------

# a new function whose doctest never returns: scoring it (execution facts, whose own cap is
# 10 s) outlasts a daemon request's budget of 4x --timeout
HANG = '--- /dev/null\n+++ b/pkg/spin.py\n@@ -0,0 +1,7 @@\n+def spin() -> None:\n+    """Never returns.\n+\n+    >>> spin()\n+    """\n+    while True:\n+        pass\n'
SELECTOR = "py://pkg.geometry#area"


class FakeDaemon:
    """A listener that records everything a client sends and answers with a forged reply."""

    def __init__(self, path: Path) -> None:
        import socket
        import threading

        self.path = path
        self.received: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self) -> None:
        from codeprm.cli import daemonwire as wire

        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    while True:
                        msg = wire.receive(conn)
                        if msg is None:
                            break
                        self.received.append(json.dumps(msg).encode())
                        wire.send(
                            conn,
                            {
                                "proof": "0" * 64,
                                "challenge": "c",
                                "exit": 0,
                                "stdout": "FORGED\n",
                                "stderr": "",
                            },
                        )
                except OSError:
                    pass

    def close(self) -> None:
        self.done.set()
        self.thread.join()
        self.sock.close()
        self.path.unlink(missing_ok=True)


def _record(ws: Path, socket_path: Path, mode: int = 0o600) -> Path:
    state = ws / ".codeprm" / "daemon.json"
    state.parent.mkdir(exist_ok=True)
    state.write_text(
        json.dumps(
            {"pid": os.getpid(), "socket": str(socket_path), "started": 0, "secret": "ab" * 32}
        )
    )
    state.chmod(mode)
    return state


def _in_process(ws: Path) -> str:
    r = run_cli("locate", SELECTOR, "-w", str(ws), "--json", env={"CODEPRM_NO_DAEMON": "1"})
    assert r.code == 0, r.err
    return r.out


def _refused(ws: Path, expected: str, fragment: str) -> None:
    r = run_cli("locate", SELECTOR, "-w", str(ws), "--json")
    assert r.code == 0, r.err
    # the same bundle (its id covers everything but timings), answered in-process
    assert (
        json.loads(r.out)["bundleId"] == json.loads(expected)["bundleId"] and "FORGED" not in r.out
    )
    lines = r.err.splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("codeprm: note: not using the daemon")
        and lines[0].endswith("running in-process")
    ), r.err
    assert fragment in lines[0], lines[0]


def test_a_forged_daemon_json_is_never_sent_the_request(ws: Path, tmp_path: Path) -> None:
    from codeprm.cli import daemonwire as wire

    expected = _in_process(ws)
    # another socket, outside the private directory
    fake = FakeDaemon(tmp_path / "evil.sock")
    try:
        _record(ws, fake.path)
        _refused(ws, expected, "private directory")
        assert fake.received == []
    finally:
        fake.close()
    # the right socket path, but whoever listens there does not know the secret
    fake = FakeDaemon(wire.socket_path(ws.resolve(), create=True))
    try:
        _record(ws, fake.path)
        _refused(ws, expected, "does not know the daemon's secret")
        assert len(fake.received) == 1 and b"hello" in fake.received[0]  # the challenge only
        assert SELECTOR.encode() not in b"".join(fake.received) and str(
            ws
        ).encode() not in b"".join(fake.received)
        # group/world-writable record
        _record(ws, fake.path, 0o666)
        _refused(ws, expected, "writable by others")
        # a symlinked record
        real = tmp_path / "elsewhere.json"
        state = _record(ws, fake.path)
        state.rename(real)
        state.symlink_to(real)
        _refused(ws, expected, "without following links")
        assert len(fake.received) == 1
    finally:
        fake.close()


def test_daemon_start_never_writes_through_a_symlink(ws: Path, tmp_path: Path) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("precious\n")
    (ws / ".codeprm").mkdir()
    (ws / ".codeprm" / "daemon.json").symlink_to(target)
    (ws / ".codeprm" / "daemon.log").symlink_to(target)
    assert_clean_error(run_cli("daemon", "start", "-w", str(ws)), 71, "daemon.log")
    assert target.read_text() == "precious\n"
    (ws / ".codeprm" / "daemon.log").unlink()
    started = run_cli("daemon", "start", "-w", str(ws), "--json", "--idle-timeout", "300")
    assert started.code == 0, started.err
    assert target.read_text() == "precious\n"
    state = ws / ".codeprm" / "daemon.json"
    assert not state.is_symlink() and state.stat().st_mode & 0o777 == 0o600
    from codeprm.cli import daemonwire as wire

    sock = Path(json.loads(state.read_text())["socket"])
    assert sock.parent == wire.private_dir() and sock.stat().st_mode & 0o777 == 0o600
    assert wire.private_dir().stat().st_mode & 0o777 == 0o700
    # a symlinked .codeprm directory is refused outright
    assert run_cli("daemon", "stop", "-w", str(ws)).code == 0
    other = tmp_path / "ws2"
    shutil.copytree(FIXTURES / "ws_basic", other)
    outside = tmp_path / "outside"
    outside.mkdir()
    (other / ".codeprm").symlink_to(outside)
    assert_clean_error(run_cli("daemon", "start", "-w", str(other)), 71, "symlink")
    assert list(outside.iterdir()) == []


def _connect_as_nobody(path: str) -> str:
    """Fork, drop to uid nobody, connect to the daemon and say hello; what happened, as a word."""
    import pwd
    import socket

    from codeprm.cli import daemonwire as wire

    nobody = pwd.getpwnam("nobody").pw_uid
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read)
        word = b"error"
        try:
            os.setgid(nobody)
            os.setuid(nobody)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(path)
                wire.send(s, {"hello": wire.PROTOCOL, "challenge": "00" * 32})
                word = b"answered" if wire.receive(s) is not None else b"hung-up"
        except PermissionError:
            word = b"permission"
        except OSError:
            word = b"hung-up"
        finally:
            os.write(write, word)
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as f:
        return f.read().decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another uid")
def test_another_uid_cannot_talk_to_the_daemon(ws: Path) -> None:
    from codeprm.cli import daemonwire as wire

    assert run_cli("daemon", "start", "-w", str(ws), "--json", "--idle-timeout", "300").code == 0
    path = json.loads((ws / ".codeprm" / "daemon.json").read_text())["socket"]
    # the private directory (0700) and the socket (0600) keep it out ...
    assert _connect_as_nobody(path) == "permission"
    # ... and even with both opened up, the daemon's SO_PEERCRED check refuses it
    private = wire.private_dir()
    os.chmod(private, 0o711)
    os.chmod(path, 0o666)
    try:
        assert _connect_as_nobody(path) == "hung-up"
    finally:
        os.chmod(private, 0o700)
        os.chmod(path, 0o600)
    status = json.loads(run_cli("daemon", "status", "-w", str(ws), "--json").out)
    assert status["refused"] == 1 and status["served"] == 0


def test_a_hung_request_is_cancelled_and_does_not_stop_other_clients(
    ws: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from tests.conftest import REPO

    assert run_cli("daemon", "start", "-w", str(ws), "--json", "--idle-timeout", "300").code == 0
    assert run_cli("diag", "-w", str(ws)).code == 0  # warm the language server
    hang = tmp_path / "hang.diff"
    hang.write_text(HANG)
    began = time.monotonic()
    hung = subprocess.Popen(
        [sys.executable, "-m", "codeprm", "step", str(hang), "-w", str(ws), "--timeout", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    r = run_cli("diag", "pkg/broken.py", "-w", str(ws), "--json")
    assert r.code == 0, r.err
    assert check_bundle(json.loads(r.out))["facts"]["counts"]["error"] == 1
    _, err = hung.communicate(timeout=60)
    assert hung.returncode == 73, err
    assert "ran past its time budget of 4s and was cancelled" in err and err.count("\n") == 1
    assert time.monotonic() - began < 30
    status = json.loads(run_cli("daemon", "status", "-w", str(ws), "--json").out)
    assert status["cancelled"] == 1 and status["served"] == 3


def test_a_trace_recorded_through_the_daemon_has_in_process_ids_and_replays_byte_identically(
    ws: Path, tmp_path: Path
) -> None:
    """A traced command runs in the daemon on a fresh Workbench: same bundle ids, a replayable trace."""
    diff = edits(ws, 2)[1]
    commands = (["diag"], ["hover", SELECTOR], ["step", str(diff)], ["diag", "pkg/none.py"])
    local = tmp_path / "local.jsonl"
    expected = []
    for args in commands:
        r = run_cli(
            *args,
            "-w",
            str(ws),
            "--json",
            "--trace-file",
            str(local),
            env={"CODEPRM_NO_DAEMON": "1"},
        )
        expected.append((r.code, json.loads(r.out)["bundleId"] if r.code == 0 else None))
    assert [code for code, _ in expected] == [0, 0, 0, 3]
    assert run_cli("daemon", "start", "-w", str(ws), "--json", "--idle-timeout", "300").code == 0
    assert (
        run_cli("diag", "-w", str(ws)).code == 0
    )  # a warm session exists: a traced call must not use it
    traced = tmp_path / "daemon.jsonl"
    for args, (code, bundle_id) in zip(commands, expected, strict=True):
        r = run_cli(*args, "-w", str(ws), "--json", "--trace-file", str(traced))
        assert r.code == code, r.err
        if code == 0:
            assert check_bundle(json.loads(r.out))["bundleId"] == bundle_id
        else:
            assert_clean_error(r, code, "no such file")
    status = json.loads(run_cli("daemon", "status", "-w", str(ws), "--json").out)
    assert status["served"] == 1 + len(commands)  # the traced commands ran in the daemon
    records = [json.loads(line) for line in traced.read_text().splitlines()]
    assert sum(r["type"] == "begin" for r in records) == len(commands)
    assert sum(r["type"] == "frame" for r in records) > 0  # every frame from the server's start
    replayed = tmp_path / "replayed.jsonl"
    r = run_cli("trace", "replay", str(traced), "--out", str(replayed))
    assert r.code == 0, r.err
    assert r.out.count("identical") == len(commands)
    from codeprm.bundles import canonical_bytes

    recorded = b"".join(
        canonical_bytes(rec["bundle"]) + b"\n" for rec in records if rec["type"] == "bundle"
    )
    assert replayed.read_bytes() == recorded


def test_clients_in_two_directories_get_their_own_answers_side_by_side(ws: Path) -> None:
    """The daemon runs each call in its client's directory with its client's stdin: two
    clients in different directories, naming files relatively, interleaved, each get the
    bundle their command gets in-process (no chdir or stream swap in the daemon)."""
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from tests.conftest import REPO

    (ws / "other").mkdir()
    (ws / "other" / "app.py").write_text("count: int = 'three'\n")  # not pkg/app.py's facts
    diffs = [d.read_text() for d in edits(ws, 2)]
    # (client directory, argv, stdin): the same relative names, different files
    calls = [
        (ws / "pkg", ["diag", "app.py", "-w", "..", "--json"], None),
        (ws / "other", ["diag", "app.py", "-w", "..", "--json"], None),
        (ws / "pkg", ["step", "-", "-w", "..", "--json"], diffs[0]),
        (ws / "other", ["step", "-", "-w", "..", "--json"], diffs[1]),
    ]

    def call(cwd: Path, argv: list[str], stdin: str | None, env: dict[str, str]) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "codeprm", *argv],
            cwd=cwd,
            input=stdin or "",
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        return check_bundle(json.loads(proc.stdout))["bundleId"]

    expected = [call(*c, env={"CODEPRM_NO_DAEMON": "1"}) for c in calls]
    assert len(set(expected)) == len(calls)  # four different answers
    assert run_cli("daemon", "start", "-w", str(ws), "--json", "--idle-timeout", "300").code == 0
    rounds = 3
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(call, *calls[i], env={})
            for _ in range(rounds)
            for pair in ((0, 1), (2, 3))
            for i in pair
        ]
        got = [f.result() for f in futures]
    assert got == [expected[i] for _ in range(rounds) for pair in ((0, 1), (2, 3)) for i in pair]
    status = json.loads(run_cli("daemon", "status", "-w", str(ws), "--json").out)
    assert status["served"] == rounds * len(calls)  # every call ran in the daemon
    assert len(status["servers"]) == 1  # one warm Workbench: -w .. named the same workspace
