"""``codeprm hook claude-code``: Claude Code's PostToolUse hook, scoring each edit as it lands.

Exit codes follow Claude Code's hook contract, not codeprm's table: 0 when the step is
fine or none of the hook's business (nothing on stdout), 2 when the step reward is below
--threshold (the reason on stderr is what the model reads), and any other code for a
failure of the hook itself, which Claude Code shows the user without blocking the model.
Errors that codeprm numbers 2 (usage, a malformed payload) exit 1 here, so that a broken
set-up never blocks the model; server timeouts and crashes keep their codes (64, 65).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from codeprm.cli import render
from codeprm.cli.call import current, echo
from codeprm.cli.options import json_option, python_option, timeout_option, workspace_option
from codeprm.errors import CodeprmError


class NonBlockingCommand(click.Command):
    """A command whose usage errors exit 1, not 2: exit 2 would block Claude Code's model."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        from codeprm.agents.hooks import HookError

        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as err:
            raise HookError(
                f"{err.format_message()} (see 'codeprm hook {self.name} --help')"
            ) from err


class NonBlockingGroup(click.Group):
    """``codeprm hook NAME``: a mistyped hook name exits 1 too, for the same reason."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        from codeprm.agents.hooks import HookError

        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as err:
            raise HookError(f"{err.format_message()} (see 'codeprm hook --help')") from err


@click.group(name="hook", cls=NonBlockingGroup)
def hook_group() -> None:
    """Hooks for coding agents: score each edit as the agent makes it."""


def _read_stdin() -> str:
    stdin = current().input
    buffer = getattr(stdin, "buffer", None)
    if buffer is None:  # a replaced stdin (tests) is text already
        return stdin.read()
    data = buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        from codeprm.agents.hooks import HookError

        raise HookError(f"hook payload is not UTF-8 (byte {err.start})") from err


@hook_group.command(name="claude-code", cls=NonBlockingCommand)
@workspace_option
@click.option(
    "--threshold",
    type=float,
    default=0.0,
    show_default=True,
    help="Block (exit 2) when the step reward is below this; 0: any step that made things worse.",
)
@json_option
@timeout_option
@python_option
@click.pass_context
def claude_code_cmd(
    ctx: click.Context,
    workspace: Path | None,
    threshold: float,
    as_json: bool,
    timeout: float,
    python_path: Path | None,
) -> None:
    """Claude Code PostToolUse hook for Edit, Write and MultiEdit: reads the payload on stdin.

    \b
    Exit 0: the step is fine, or not a Python edit (prints nothing).
    Exit 2: the step reward is below --threshold; stderr (for the model) lists the
            diagnostics the edit introduced, with path:line, and the reward.
    Exit 1: a malformed payload or set-up (shown to the user; never blocks the model).
    --json prints the step bundle on stdout, for debugging (not in settings.json:
    Claude Code reads stdout of exit 0 as hook JSON).
    """
    from codeprm.agents import hooks

    try:
        event = hooks.parse_payload(_read_stdin())
        if not event.is_edit:
            return
        cwd = current().cwd
        root = hooks.workspace_for(event, workspace, cwd)
        target = hooks.file_of(event, root, cwd)
        if target is None:
            return
        from codeprm.cli.call import workbench

        with workbench(root, python_path, timeout) as bench:
            outcome = hooks.score_event(bench.engine(), event, *target, threshold=threshold)
    except CodeprmError as err:
        if err.exit_code == 2:  # exit 2 would block the model for what is the user's to fix
            raise hooks.HookError(err.one_line()) from err
        raise
    if as_json:
        render.emit_json(outcome.bundle)
    elif outcome.note():
        echo(json.dumps({"systemMessage": outcome.note()}))
    if outcome.blocked:
        echo(outcome.reason(), err=True)
        ctx.exit(2)
