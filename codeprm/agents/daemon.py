"""The warm daemon: one per workspace, a unix socket under ``.codeprm/``, commands run warm.

The daemon keeps its analyzers (and so their language servers) alive between commands:
a CLI call it answers costs a connection plus the server's own check. Requests are
served one at a time, each exactly as ``codeprm`` would run it (``cli.main.run``), with
the client's argv, working directory and stdin; its stdout, stderr and exit code go
back. Before each request every open document is compared with the disk (editors,
``git checkout``); after it, a server whose resident memory passed the limit is
restarted. The daemon exits on ``stop``, on SIGTERM, or after an idle timeout.

Wire format (both directions): a 4-byte big-endian length, then a JSON object.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeprm.cli.entry import STATE_FILE, receive, send
from codeprm.errors import NotFoundError, ServerCrashError


def socket_path(root: Path) -> Path:
    """Under the workspace when short enough for AF_UNIX (108 bytes), else in the temp dir."""
    preferred = root / ".codeprm" / "daemon.sock"
    if len(str(preferred)) < 100:
        return preferred
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    return Path("/tmp") / f"codeprm-{digest}.sock"


def state(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / STATE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None


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
    st = state(root)
    if st is None:
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(st["socket"])
            send(sock, payload)
            return receive(sock)
    except (OSError, KeyError, ValueError):
        return None


@dataclass
class Daemon:
    root: Path
    max_memory_mb: float = 2048.0
    idle_timeout: float = 3600.0
    served: int = 0
    restarts_for_memory: int = 0
    started: float = 0.0

    def serve(self) -> None:
        from codeprm.analysis.navigate import enable_pool

        enable_pool()
        path = socket_path(self.root)
        (self.root / ".codeprm").mkdir(exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen(16)
        server.settimeout(self.idle_timeout)
        self.started = time.time()
        (self.root / STATE_FILE).write_text(json.dumps({"pid": os.getpid(), "socket": str(path), "started": self.started}), "utf-8")
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    break  # idle too long
                with conn:
                    payload = receive(conn)
                    if payload is None:
                        continue
                    if payload.get("control") == "stop":
                        send(conn, {"stopping": True})
                        break
                    if payload.get("control") == "status":
                        send(conn, self.status())
                        continue
                    send(conn, self.run(payload))
                    self.check_memory()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
            self.shutdown(path)

    def run(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One CLI invocation, in this process, with the client's cwd, stdin and argv."""
        from codeprm.cli.main import run

        out, err = io.BytesIO(), io.StringIO()
        wrapper = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
        saved = sys.stdin, sys.stdout, sys.stderr, os.getcwd()
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(payload.get("stdin") or ""), wrapper, err
        try:
            os.chdir(payload.get("cwd") or self.root)
            code = run(list(payload.get("argv") or []))
        finally:
            wrapper.flush()
            sys.stdin, sys.stdout, sys.stderr = saved[0], saved[1], saved[2]
            os.chdir(saved[3])
        data = out.getvalue()
        wrapper.detach()  # dropping the wrapper must not close the buffer under us
        self.served += 1
        return {"exit": code, "stdout": data.decode("utf-8", "surrogateescape"), "stderr": err.getvalue()}

    def servers(self) -> list[Any]:
        from codeprm.analysis.navigate import pooled_analyzers

        return [an for an in pooled_analyzers() if an._session is not None]

    def check_memory(self) -> None:
        for an in self.servers():
            pid = an._session.session.pid
            used = rss_mb(pid) if pid else None
            if used is not None and used > self.max_memory_mb:
                an.session.restart()
                self.restarts_for_memory += 1

    def status(self) -> dict[str, Any]:
        servers = []
        for an in self.servers():
            pid = an._session.session.pid
            servers.append({"root": str(an.root), "pid": pid, "rssMb": rss_mb(pid) if pid else None, "restarts": an._session.session.restarts})
        return {
            "pid": os.getpid(),
            "root": str(self.root),
            "uptimeS": round(time.time() - self.started, 1),
            "served": self.served,
            "restartsForMemory": self.restarts_for_memory,
            "maxMemoryMb": self.max_memory_mb,
            "servers": servers,
        }

    def shutdown(self, path: Path) -> None:
        from codeprm.analysis.navigate import pooled_analyzers

        for an in pooled_analyzers():
            with contextlib.suppress(Exception):
                an.close()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        st = state(self.root)
        if st is not None and st.get("pid") == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                (self.root / STATE_FILE).unlink()


def start(root: Path, max_memory_mb: float, idle_timeout: float, wait: float = 30.0) -> dict[str, Any]:
    """Start a detached daemon for root (or report the running one)."""
    running = request(root, {"control": "status"})
    if running is not None:
        return {**running, "alreadyRunning": True}
    (root / ".codeprm").mkdir(exist_ok=True)
    log = (root / ".codeprm" / "daemon.log").open("ab")
    cmd = [sys.executable, "-m", "codeprm", "daemon", "serve", "-w", str(root), "--max-memory-mb", str(max_memory_mb), "--idle-timeout", str(idle_timeout)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, cwd=root, env={**os.environ, "CODEPRM_NO_DAEMON": "1"})
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        status = request(root, {"control": "status"}, timeout=2.0)
        if status is not None:
            return status
        if proc.poll() is not None:
            raise ServerCrashError(f"the daemon exited at once (code {proc.returncode}); see {root / '.codeprm' / 'daemon.log'}")
        time.sleep(0.05)
    proc.kill()
    raise ServerCrashError(f"the daemon did not come up within {wait:g}s; see {root / '.codeprm' / 'daemon.log'}")


def stop(root: Path) -> dict[str, Any]:
    st = state(root)
    if st is None:
        raise NotFoundError(f"no daemon is running for {root}")
    reply = request(root, {"control": "stop"})
    if reply is None:  # recorded but not answering: a stale record or a hung process
        with contextlib.suppress(ProcessLookupError, KeyError, TypeError):
            os.kill(int(st["pid"]), signal.SIGTERM)
        for path in (root / STATE_FILE, Path(st.get("socket", ""))):
            with contextlib.suppress(OSError):
                path.unlink()
        return {"stopped": True, "stale": True, "pid": st.get("pid")}
    deadline = time.monotonic() + 10
    while (root / STATE_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return {"stopped": True, "pid": st.get("pid")}


def status(root: Path) -> dict[str, Any]:
    reply = request(root, {"control": "status"})
    if reply is None:
        raise NotFoundError(f"no daemon is running for {root}")
    return reply


def serve(root: Path, max_memory_mb: float, idle_timeout: float) -> None:
    Daemon(root, max_memory_mb, idle_timeout).serve()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # leaves serve() through its finally: servers shut down cleanly
