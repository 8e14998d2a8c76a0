"""``codeprm mcp``: serve codeprm's tools to an agent over MCP (stdio)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import click

from codeprm.cli.options import (
    device_option,
    exec_option,
    prm_option,
    python_option,
    timeout_option,
    workspace_option,
)
from codeprm.errors import UsageError


@click.command(name="mcp")
@workspace_option
@timeout_option
@python_option
@prm_option
@device_option
@click.option(
    "--call-budget",
    type=click.FloatRange(min=0.1),
    default=None,
    help=(
        "Seconds one tool call may run (and wait for the one before it); past it, it is "
        "cancelled with exit 73. Default: 4x --timeout."
    ),
)
@exec_option
def mcp_cmd(
    workspace: Path | None,
    timeout: float,
    python_path: Path | None,
    prm: str,
    device: str,
    call_budget: float | None,
    exec_mode: str,
) -> None:
    """Serve an MCP server over stdin/stdout for coding agents (Claude Code, Codex, OpenHands).

    \b
    Tools: diagnostics(files), locate(selector), rank_edits(file, candidates, task),
    score_edit(edit), preview_rename(selector, new_name), apply_edit(edit, allow_dirty).
    --prm is the learned PRM rank_edits uses, loaded on the first ranking. One warm
    language server serves every call; errors come back as tool errors with
    codeprm's exit code; a call that hangs is cancelled after --call-budget seconds and
    the next call is answered. Only protocol is written to stdout; logs go to stderr.
    Register it with: claude mcp add codeprm -- codeprm mcp -w .
    """
    if importlib.util.find_spec("mcp") is None:
        raise UsageError("codeprm mcp needs the MCP Python SDK: pip install 'mcp>=2.3,<3'")
    from codeprm.agents.mcp_server import Workbench, serve
    from codeprm.analysis.learned import load_prm
    from codeprm.cli.call import workspace_root

    root = workspace_root(workspace)
    serve(
        Workbench(
            root=root,
            python=python_path,
            timeout=timeout,
            budget=call_budget,
            load_prm=functools.partial(load_prm, prm, device),
            exec_mode=exec_mode,
        )
    )
