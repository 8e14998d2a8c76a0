"""The console script: hand the command to the workspace's warm daemon, else run it here.

This module (and ``daemonwire``) imports only the standard library so that a call
answered by the daemon costs little more than starting Python. The daemon is found
through ``<workspace>/.codeprm/daemon.json`` (the workspace: ``-w DIR`` if given, else the
nearest directory above the current one that has one) and trusted only after the checks
of ``daemonwire`` (owner, mode, no symlink, socket in the user's private directory, proof
of the secret). A record that fails them is never sent a request: the command runs here
and says so on stderr in one line. A daemon that is simply gone (a stale record) is
ignored silently. A command that records a trace (``--trace-file``) runs there on a
fresh language server of its own (a trace holds every frame from the server's start).
Set CODEPRM_NO_DAEMON=1 to never use one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from codeprm.agents import daemonwire as wire

#: Commands the daemon runs; the others (daemon, schema, trace, replay, prm, mcp) run here.
DAEMON_COMMANDS = frozenset(
    {
        "diag",
        "def",
        "refs",
        "hover",
        "symbols",
        "locate",
        "step",
        "rank",
        "score",
        "rename",
        "actions",
        "apply",
        "batch",
        "hook",
    }
)
STATE_FILE = wire.STATE_FILE
#: how much longer than the daemon's own budget a client waits for the answer
CLIENT_GRACE = 15.0


def _workspace_arg(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg in ("-w", "--workspace") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--workspace="):
            return arg.split("=", 1)[1]
    return None


def find_workspace(argv: list[str]) -> Path | None:
    """The workspace whose daemon record this command would use, if one is recorded."""
    given = _workspace_arg(argv)
    starts = (
        [Path(given).resolve()] if given else [Path.cwd().resolve(), *Path.cwd().resolve().parents]
    )
    for directory in starts:
        if os.path.lexists(directory / STATE_FILE):
            return directory
    return None


def _note(message: str) -> None:
    sys.stderr.write(f"codeprm: note: {' '.join(message.split())}; running in-process\n")
    sys.stderr.flush()


def _needs_stdin(argv: list[str]) -> bool:
    command = argv[0]
    if command == "hook":
        return True
    if command == "batch":
        rest = [a for a in argv[1:] if not a.startswith("-")]
        return not rest or rest[0] == "-"
    return command in ("step", "apply") and "-" in argv[1:]


def try_daemon(argv: list[str], unread: list[str] | None = None) -> int | None:
    """The exit code of the command run by the daemon, or None to run it here.

    A command the daemon did not run after its stdin was read appends that input to
    ``unread`` (the command here reads it instead of the process's stdin).
    """
    if (
        not argv
        or argv[0] not in DAEMON_COMMANDS
        or os.environ.get("CODEPRM_NO_DAEMON")
        or "-h" in argv
        or "--help" in argv
    ):
        return None
    root = find_workspace(argv)
    if root is None:
        return None
    try:
        state = wire.read_state(root)
        sock, client_proof = wire.connect(state, timeout=5.0)
    except wire.NoDaemon:
        return None
    except wire.Untrusted as err:
        _note(f"not using the daemon: {err}")
        return None
    stdin = sys.stdin.read() if _needs_stdin(argv) else None
    allowed = wire.request_budget(argv)
    waited = (
        min(allowed, wire.QUEUE_WAIT) + allowed + CLIENT_GRACE
    )  # the daemon's queue, run and cancel
    reply: dict[str, object] | None = None
    with sock:
        try:
            sock.settimeout(waited)
            request = {"proof": client_proof, "argv": argv, "cwd": os.getcwd(), "stdin": stdin}
            if wire.traced(argv) and os.environ.get("CODEPRM_TRACE_KEY"):
                request["traceKey"] = os.environ[
                    "CODEPRM_TRACE_KEY"
                ]  # the call's key is the client's
            wire.send(sock, request)
            reply = wire.receive(sock)
        except TimeoutError:
            sys.stderr.write(f"codeprm: error: the daemon did not answer within {waited:g}s\n")
            return 73
        except (OSError, ValueError):
            reply = None
    if reply is None or reply.get("busy"):
        _note("the daemon " + ("is busy" if reply else "hung up"))
        if stdin is not None and unread is not None:  # the command here still needs it
            unread.append(stdin)
        return None
    sys.stdout.buffer.write(str(reply.get("stdout", "")).encode("utf-8", "surrogateescape"))
    sys.stdout.flush()
    sys.stderr.write(str(reply.get("stderr", "")))
    sys.stderr.flush()
    return int(reply.get("exit", 1))  # type: ignore[call-overload]


def main() -> None:
    argv = sys.argv[1:]
    unread: list[str] = []
    code = try_daemon(argv, unread)
    if code is None:
        from codeprm.cli.call import Call
        from codeprm.cli.main import run

        call = Call()
        if unread:
            import io

            data = unread[0].encode("utf-8", "surrogateescape")
            call.stdin = io.TextIOWrapper(
                io.BytesIO(data), encoding="utf-8", errors="surrogateescape", newline=""
            )
        code = run(argv, call=call)
    sys.exit(code)
