"""The console script: hand the command to the workspace's warm daemon, else run it here.

This module imports only the standard library so that a call answered by the daemon
costs little more than starting Python. The daemon is found through
``<workspace>/.codeprm/daemon.json`` (the workspace: ``-w DIR`` if given, else the
nearest directory above the current one that has a running daemon). A daemon that does
not answer is ignored and the command runs in this process: the fallback is silent.
Set CODEPRM_NO_DAEMON=1 to never use one.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
from pathlib import Path

#: Commands the daemon runs; the others (daemon, schema, trace, replay, prm, mcp) run here.
DAEMON_COMMANDS = frozenset({"diag", "def", "refs", "hover", "symbols", "locate", "step", "rank", "score", "rename", "actions", "apply", "batch", "hook"})
STATE_FILE = Path(".codeprm") / "daemon.json"


def send(sock: socket.socket, payload: dict[str, object]) -> None:
    data = json.dumps(payload).encode("utf-8")
    sock.sendall(struct.pack(">I", len(data)) + data)


def receive(sock: socket.socket) -> dict[str, object] | None:
    head = _exactly(sock, 4)
    if head is None:
        return None
    body = _exactly(sock, struct.unpack(">I", head)[0])
    return None if body is None else json.loads(body)


def _exactly(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(1 << 20, n - got))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _workspace_arg(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg in ("-w", "--workspace") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--workspace="):
            return arg.split("=", 1)[1]
    return None


def find_daemon(argv: list[str]) -> Path | None:
    """The daemon socket serving this command's workspace, if one is recorded."""
    given = _workspace_arg(argv)
    starts = [Path(given).resolve()] if given else [Path.cwd().resolve(), *Path.cwd().resolve().parents]
    for directory in starts:
        state = directory / STATE_FILE
        if state.is_file():
            try:
                return Path(json.loads(state.read_text("utf-8"))["socket"])
            except (OSError, ValueError, KeyError, TypeError):
                return None
    return None


def _needs_stdin(argv: list[str]) -> bool:
    command = argv[0]
    if command == "hook":
        return True
    if command == "batch":
        rest = [a for a in argv[1:] if not a.startswith("-")]
        return not rest or rest[0] == "-"
    return command in ("step", "apply") and "-" in argv[1:]


def try_daemon(argv: list[str]) -> int | None:
    """The exit code of the command run by the daemon, or None to run it here."""
    if not argv or argv[0] not in DAEMON_COMMANDS or os.environ.get("CODEPRM_NO_DAEMON") or "-h" in argv or "--help" in argv:
        return None
    path = find_daemon(argv)
    if path is None:
        return None
    stdin = sys.stdin.read() if _needs_stdin(argv) else None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5.0)
            sock.connect(str(path))
            sock.settimeout(None)  # a long score is fine once the daemon has the request
            send(sock, {"argv": argv, "cwd": os.getcwd(), "stdin": stdin})
            reply = receive(sock)
    except OSError:
        reply = None
    if reply is None:
        if stdin is not None:  # the command here still needs what the daemon never got
            import io

            sys.stdin = io.StringIO(stdin)
        return None
    sys.stdout.buffer.write(str(reply.get("stdout", "")).encode("utf-8", "surrogateescape"))
    sys.stdout.flush()
    sys.stderr.write(str(reply.get("stderr", "")))
    sys.stderr.flush()
    return int(reply.get("exit", 1))  # type: ignore[call-overload]


def main() -> None:
    argv = sys.argv[1:]
    code = try_daemon(argv)
    if code is None:
        from codeprm.cli.main import run

        code = run(argv)
    sys.exit(code)
