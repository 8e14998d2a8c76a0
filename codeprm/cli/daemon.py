"""``codeprm daemon start|stop|status``: the warm per-workspace daemon the CLI uses itself."""

from __future__ import annotations

import json
from pathlib import Path

import click

from codeprm.cli.call import echo
from codeprm.cli.options import json_option, workspace_option

_memory = click.option(
    "--max-memory-mb",
    type=click.FloatRange(min=64),
    default=2048.0,
    show_default=True,
    help="Restart a language server whose resident memory passes this.",
)
_idle = click.option(
    "--idle-timeout",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Exit after this many seconds without a request.",
)


def _root(workspace: Path | None) -> Path:
    from codeprm.cli.call import workspace_root

    return workspace_root(workspace)


@click.group(name="daemon")
def daemon_group() -> None:
    """A warm daemon per workspace: once started, every codeprm command in the workspace uses it.

    Commands find it through .codeprm/daemon.json and fall back to running in-process
    when it does not answer, or (with a one-line note) when the record or the daemon
    fails a check: only its owner can reach it (a 0600 socket in a private 0700
    directory, SO_PEERCRED, a proof of the secret both ways). Each command may run 4x
    its --timeout there before it is cancelled (exit 73); a traced command
    (--trace-file) runs there on a fresh language server of its own, so that its trace
    replays. CODEPRM_NO_DAEMON=1 disables it for one call.
    """


def _show(data: dict[str, object], as_json: bool, verb: str) -> None:
    if as_json:
        echo(json.dumps(data, sort_keys=True))
    else:
        echo(
            f"daemon {verb}: pid {data.get('pid')}"
            + (f", served {data['served']}" if "served" in data else "")
        )


@daemon_group.command(name="start")
@workspace_option
@_memory
@_idle
@json_option
def start_cmd(
    workspace: Path | None, max_memory_mb: float, idle_timeout: float, as_json: bool
) -> None:
    """Start the daemon for the workspace (or report the one running)."""
    from codeprm.agents import daemon

    data = daemon.start(_root(workspace), max_memory_mb, idle_timeout)
    _show(data, as_json, "already running" if data.get("alreadyRunning") else "started")


@daemon_group.command(name="stop")
@workspace_option
@json_option
def stop_cmd(workspace: Path | None, as_json: bool) -> None:
    """Stop the workspace's daemon and its language servers."""
    from codeprm.agents import daemon

    _show(daemon.stop(_root(workspace)), as_json, "stopped")


@daemon_group.command(name="status")
@workspace_option
@json_option
def status_cmd(workspace: Path | None, as_json: bool) -> None:
    """Pid, uptime, requests served and the language servers' memory; exit 3 when none runs."""
    from codeprm.agents import daemon

    _show(daemon.status(_root(workspace)), as_json, "running")


@daemon_group.command(name="serve", hidden=True)
@workspace_option
@_memory
@_idle
def serve_cmd(workspace: Path | None, max_memory_mb: float, idle_timeout: float) -> None:
    """Run the daemon in the foreground (what 'start' launches)."""
    from codeprm.agents import daemon
    from codeprm.cli.main import serve_request

    daemon.serve(_root(workspace), serve_request, max_memory_mb, idle_timeout)
