"""``codeprm step EDIT``: score one edit in memory; write it only with --apply."""

from __future__ import annotations

from pathlib import Path

import click

from codeprm.cli import render
from codeprm.cli.options import (
    json_option,
    python_option,
    reward_options,
    timeout_option,
    workspace_option,
)
from codeprm.errors import UsageError


def read_edit(source: str) -> str:
    """The edit named on the command line: a file (relative to the invocation's directory),
    or '-' for the invocation's stdin."""
    from codeprm.cli.call import current

    call = current()
    if source == "-":
        return call.input.read()
    path = call.path(Path(source))
    try:
        return path.read_text("utf-8")
    except FileNotFoundError as err:
        from codeprm.errors import NotFoundError

        raise NotFoundError(f"{source}: no such file") from err
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"{source}: cannot read the edit: {err}") from err


@click.command(name="step")
@click.argument("edit")
@workspace_option
@json_option
@timeout_option
@python_option
@reward_options()
@click.option(
    "--confidence",
    type=click.FloatRange(0.0, 1.0),
    default=1.0,
    show_default=True,
    help="How confidently the edit's target was located.",
)
@click.option(
    "--apply",
    "do_apply",
    is_flag=True,
    help="Write the edit after scoring (atomically, inside the jail).",
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="With --apply: write even if the git worktree has uncommitted changes.",
)
def step_cmd(
    edit: str,
    workspace: Path | None,
    as_json: bool,
    timeout: float,
    python_path: Path | None,
    weights: str | None,
    formula: str,
    confidence: float,
    prm: str,
    prm_weight: float | None,
    prm_form: str,
    exec_mode: str,
    exec_test_cmd: str | None,
    task: str,
    do_apply: bool,
    allow_dirty: bool,
) -> None:
    """Score EDIT (a unified diff or an LSP WorkspaceEdit JSON file, '-' for stdin) as one step.

    Nothing on disk changes unless --apply is given: the reward comes from the language
    server's facts before and after the edit, held in memory.
    """
    from codeprm.analysis.learned import reward_weights
    from codeprm.cli.call import workbench, workspace_root
    from codeprm.rewards import Weights
    from codeprm.workspace import ApplyOptions

    text = read_edit(edit)
    w = Weights.parse(weights)
    with workbench(workspace_root(workspace), python_path, timeout) as bench:
        scorer, _ = bench.prm(prm, "auto")
        w, prm_weight = reward_weights(scorer, weights, prm_weight, prm_form)
        write = ApplyOptions(allow_dirty=allow_dirty) if do_apply else None
        options = {
            "weights": w,
            "formula": formula,
            "prm_weight": prm_weight,
            "task": task,
            "prm_form": prm_form,
            "exec_mode": exec_mode,
            "test_cmd": exec_test_cmd,
        }
        bundle = bench.step(
            text, confidence=confidence, scorer=scorer, write=write, **options
        ).bundle
    if as_json:
        render.emit_json(bundle)
    else:
        render.render_step(bundle, applied=do_apply)
