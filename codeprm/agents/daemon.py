"""The warm daemon: one per workspace, reachable only by its owner, commands run warm.

The daemon keeps a pool of Workbenches (``codeprm.workbench.WorkbenchPool``: their
language servers, memos, index and PRM) alive between commands: a CLI call it answers
costs a connection plus the server's own check. Each request carries the client's argv,
working directory, stdin (and, for a traced call, its trace key); the ``runner`` the
command line gave the daemon runs it against the pool and returns its stdout, stderr
and exit code. This module never imports the CLI. Before each request the Workbench
re-syncs every open document with the disk (editors, ``git checkout``); after it, a
server whose resident memory passed the limit is restarted. The daemon exits on
``stop``, on SIGTERM, or after an idle timeout.

Who may talk to it: the socket lives in the user's private directory (0700, see
``agents.daemonwire``) with mode 0600, every connection's peer uid is checked with
SO_PEERCRED, and both sides prove they know the secret recorded in
``.codeprm/daemon.json`` (written 0600, never through a symlink) before a request is
read. A traced command (``--trace-file``) runs on a fresh Workbench of its own, so that
its trace holds every frame from the server's start, and replays like one recorded
in-process.

Time: every connection is served on its own thread. Commands run one at a time (they
share the warm sessions), each within its budget (``daemonwire.request_budget``: 4x the
command's ``--timeout``); one that runs past it is cancelled (exit 73) and the next one
runs. A request that waited ``QUEUE_WAIT`` seconds for the one before it is answered
"busy" and its client runs it in-process. A request that cannot be cancelled (stuck in
one C call) retires the daemon: the next commands run in-process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeprm.agents import budget
from codeprm.agents import daemonwire as wire
from codeprm.errors import NotFoundError, ServerCrashError, WriteDeniedError
from codeprm.workbench import Workbench, WorkbenchPool

#: (request payload, the daemon's pool) -> {"exit", "stdout", "stderr"}: one command run warm
Runner = Callable[[dict[str, Any], WorkbenchPool], dict[str, Any]]

log = logging.getLogger("codeprm.daemon")
QUEUE_WAIT = wire.QUEUE_WAIT


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MiB (Linux /proc), or None when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def request(root: Path, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any] | None:
    """A control request to root's daemon; None when none answers or its record is not trusted."""
    try:
        state = wire.read_state(root)
        sock, client_proof = wire.connect(state, timeout)
    except (wire.NoDaemon, wire.Untrusted):
        return None
    with sock:
        try:
            sock.settimeout(timeout)
            wire.send(sock, {**payload, "proof": client_proof})
            return wire.receive(sock)
        except (OSError, ValueError):
            return None


@dataclass
class Daemon:
    root: Path
    runner: Runner
    max_memory_mb: float = 2048.0
    idle_timeout: float = 3600.0
    served: int = 0
    cancelled: int = 0
    refused: int = 0
    restarts_for_memory: int = 0
    started: float = 0.0
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    _exec: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _active: int = 0
    _stuck: bool = False
    _last: float = field(default_factory=time.monotonic)
    _count: threading.Lock = field(default_factory=threading.Lock)
    pool: WorkbenchPool = field(default_factory=WorkbenchPool)

    def serve(self) -> None:
        path = wire.socket_path(self.root, create=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is born 0600, never briefly open to others
        try:
            server.bind(str(path))
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        server.listen(64)
        server.settimeout(0.2)
        self.started = time.time()
        wire.write_state(
            self.root,
            {
                "pid": os.getpid(),
                "socket": str(path),
                "started": self.started,
                "secret": self.secret,
            },
        )
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    if self._active == 0 and time.monotonic() - self._last > self.idle_timeout:
                        break
                    continue
                threading.Thread(target=self.handle, args=(conn,), daemon=True).start()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
            # let a command in flight finish (within its budget) before its servers close
            self._exec.acquire(timeout=0 if self._stuck else wire.QUEUE_WAIT)
            self.shutdown(path)

    # -- one connection ----------------------------------------------------------------------
    def handle(self, conn: socket.socket) -> None:
        with conn, self._counted():
            uid = wire.peer_uid(conn)
            if uid is not None and uid != os.getuid():
                self.refused += 1
                log.warning("refused a connection from uid %s", uid)
                return
            try:
                conn.settimeout(10.0)
                payload = self._handshake(conn)
                if payload is None:
                    self.refused += 1
                    return
                conn.settimeout(None)
                wire.send(conn, self.answer(payload))
            except (OSError, ValueError) as err:
                log.info("connection dropped: %s", err)

    def _handshake(self, conn: socket.socket) -> dict[str, Any] | None:
        hello = wire.receive(conn)
        if (
            hello is None
            or hello.get("hello") != wire.PROTOCOL
            or not isinstance(hello.get("challenge"), str)
        ):
            return None
        mine = secrets.token_hex(32)
        wire.send(
            conn,
            {"proof": wire.proof(self.secret, "daemon", hello["challenge"]), "challenge": mine},
        )
        payload = wire.receive(conn)
        theirs = (payload or {}).get("proof")
        if (
            payload is None
            or not isinstance(theirs, str)
            or not secrets.compare_digest(
                theirs.encode("utf-8", "surrogatepass"),
                wire.proof(self.secret, "client", mine).encode("utf-8", "surrogatepass"),
            )
        ):
            return None
        return payload

    def answer(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("control") == "stop":
            self._stop.set()
            return {"stopping": True}
        if payload.get("control") == "status":
            return self.status()
        argv = [str(a) for a in payload.get("argv") or []]
        if self._stop.is_set():
            return {"busy": True}  # stopping: the client runs it in-process
        allowed = wire.request_budget(argv)
        if not self._exec.acquire(timeout=min(allowed, QUEUE_WAIT)):
            return {"busy": True}  # the client runs it in-process
        stuck = False
        try:
            outcome = budget.run(
                lambda: self.run(payload), allowed, f"'codeprm {argv[0] if argv else ''}'"
            )
            stuck = self._stuck = outcome.stuck
            if stuck:
                self._stop.set()  # a worker we cannot stop owns the process's state: retire
                log.error("%s; the daemon retires", outcome.error)
            if outcome.value is not None:
                if outcome.value["exit"] == budget.BudgetExceeded.exit_code:
                    self.cancelled += 1
                return outcome.value
            self.cancelled += 1
            err = outcome.error or budget.BudgetExceeded()
            line = " ".join(str(err).split())
            return {
                "exit": getattr(err, "exit_code", 1),
                "stdout": "",
                "stderr": f"codeprm: error: {line}\n",
            }
        finally:
            if not stuck:
                self._exec.release()
                if not self._stop.is_set():
                    self.check_memory()

    @contextlib.contextmanager
    def _counted(self) -> Any:
        with self._count:
            self._active += 1
        try:
            yield
        finally:
            with self._count:
                self._active -= 1
                self._last = time.monotonic()

    def run(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One command, run warm against the pool by the runner the command line gave."""
        reply = self.runner(payload, self.pool)
        self.served += 1
        return reply

    # -- housekeeping ------------------------------------------------------------------------
    def servers(self) -> list[Workbench]:
        """The pooled Workbenches whose language server runs."""
        return [bench for bench in self.pool.benches() if bench.started]

    def check_memory(self) -> None:
        for bench in self.servers():
            session = bench.analyzer.session
            pid = session.session.pid
            used = rss_mb(pid) if pid else None
            if used is not None and used > self.max_memory_mb:
                session.restart()
                self.restarts_for_memory += 1

    def status(self) -> dict[str, Any]:
        servers = []
        for bench in self.servers():
            session = bench.analyzer.session.session
            pid = session.pid
            servers.append(
                {
                    "root": str(bench.root),
                    "pid": pid,
                    "rssMb": rss_mb(pid) if pid else None,
                    "restarts": session.restarts,
                }
            )
        return {
            "pid": os.getpid(),
            "root": str(self.root),
            "uptimeS": round(time.time() - self.started, 1),
            "served": self.served,
            "cancelled": self.cancelled,
            "refused": self.refused,
            "restartsForMemory": self.restarts_for_memory,
            "maxMemoryMb": self.max_memory_mb,
            "servers": servers,
        }

    def shutdown(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        _forget(self.root, os.getpid())
        self.pool.close()


def _forget(root: Path, pid: int | None) -> None:
    """Remove daemon.json if it is still the record of ``pid`` (None: whatever it says)."""
    try:
        state = wire.read_state(root)
    except (wire.NoDaemon, wire.Untrusted):
        return
    if pid is not None and state.get("pid") != pid:
        return
    with contextlib.suppress(OSError, wire.Untrusted):
        fd = wire.open_state_dir(root)
        try:
            os.unlink("daemon.json", dir_fd=fd)  # unlink never follows a symlink
        finally:
            os.close(fd)


def _is_our_daemon(pid: int, root: Path) -> bool:
    """Whether pid is a ``codeprm daemon serve`` of root (never signal a pid a record merely
    names)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        owner = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return False
    return (
        owner == os.getuid()
        and b"daemon" in args
        and b"serve" in args
        and str(root).encode() in args
    )


def start(
    root: Path, max_memory_mb: float, idle_timeout: float, wait: float = 30.0
) -> dict[str, Any]:
    """Start a detached daemon for root (or report the running one)."""
    running = request(root, {"control": "status"})
    if running is not None:
        return {**running, "alreadyRunning": True}
    try:
        wire.private_dir(create=True)
        dir_fd = wire.open_state_dir(root)
    except wire.Untrusted as err:
        raise WriteDeniedError(f"cannot start a daemon: {err}") from err
    try:
        log_fd = os.open(
            "daemon.log",
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=dir_fd,
        )
    except OSError as err:
        raise WriteDeniedError(
            f"cannot open {root / '.codeprm' / 'daemon.log'} (a symlink?): {err.strerror or err}"
        ) from err
    finally:
        os.close(dir_fd)
    cmd = [
        sys.executable,
        "-m",
        "codeprm",
        "daemon",
        "serve",
        "-w",
        str(root),
        "--max-memory-mb",
        str(max_memory_mb),
        "--idle-timeout",
        str(idle_timeout),
    ]
    with os.fdopen(log_fd, "ab") as logfile:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=logfile,
            start_new_session=True,
            cwd=root,
            env={**os.environ, "CODEPRM_NO_DAEMON": "1"},
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        status = request(root, {"control": "status"}, timeout=2.0)
        if status is not None and status.get("pid") == proc.pid:
            return status
        if proc.poll() is not None:
            raise ServerCrashError(
                f"the daemon exited at once (code {proc.returncode}); see "
                f"{root / '.codeprm' / 'daemon.log'}"
            )
        time.sleep(0.05)
    proc.kill()
    raise ServerCrashError(
        f"the daemon did not come up within {wait:g}s; see {root / '.codeprm' / 'daemon.log'}"
    )


def stop(root: Path) -> dict[str, Any]:
    try:
        state = wire.read_state(root)
    except wire.NoDaemon as err:
        raise NotFoundError(f"no daemon is running for {root}") from err
    except wire.Untrusted as err:
        raise NotFoundError(f"no trusted daemon for {root}: {err}") from err
    reply = request(root, {"control": "stop"})
    pid = state["pid"]
    if reply is None:  # recorded but not answering: a stale record or a hung process
        if _is_our_daemon(pid, root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        _forget(root, pid)
        with contextlib.suppress(OSError):
            Path(state["socket"]).unlink()  # read_state checked it lies in the private directory
        return {"stopped": True, "stale": True, "pid": pid}
    deadline = time.monotonic() + 10
    while (root / wire.STATE_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"stopped": True, "pid": pid}


def status(root: Path) -> dict[str, Any]:
    reply = request(root, {"control": "status"})
    if reply is None:
        raise NotFoundError(f"no daemon is running for {root}")
    return reply


def serve(root: Path, runner: Runner, max_memory_mb: float, idle_timeout: float) -> None:
    """Serve root's daemon in the foreground; ``runner`` runs each command (the CLI's)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s codeprm daemon: %(message)s", stream=sys.stderr
    )
    Daemon(root, runner, max_memory_mb, idle_timeout).serve()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # leaves serve() through its finally: servers shut down cleanly
