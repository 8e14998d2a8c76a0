"""``codeprm agent repair``: a reward-guided repair run that reports the fix and the tests spent."""

from __future__ import annotations

import json
from pathlib import Path

import click

from codeprm.cli.call import CallPath, echo
from codeprm.cli.options import (
    exec_option,
    json_option,
    prm_form_option,
    prm_option,
    prm_weight_option,
    python_option,
    timeout_option,
    workspace_option,
)


@click.group(name="agent")
def agent_group() -> None:
    """The planning loop: propose, score, select, verify, record."""


@agent_group.command(name="repair")
@click.argument("files", nargs=-1, required=True)
@click.option(
    "--test-cmd",
    required=True,
    help="Shell command whose exit status 0 means the repair worked (runs in a scratch copy).",
)
@workspace_option
@json_option
@timeout_option
@python_option
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Most test runs to spend on candidates.",
)
@click.option(
    "--beam",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Above 1: also search one step deeper from this many failed candidates.",
)
@click.option(
    "--order",
    type=click.Choice(["reward", "proposer"]),
    default="reward",
    show_default=True,
    help="Try candidates best reward first, or in proposer order (the unguided baseline).",
)
@prm_option
@prm_weight_option
@prm_form_option
@exec_option
@click.option(
    "--llm-url",
    default=None,
    help="An OpenAI-compatible endpoint to ask for candidate rewrites (never used unless given).",
)
@click.option("--llm-model", default="default", show_default=True)
@click.option(
    "--test-timeout",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    help="Seconds before a test run counts as failed and is killed.",
)
@click.option(
    "--test-memory-mb",
    type=click.FloatRange(min=64),
    default=4096.0,
    show_default=True,
    help="Address-space cap of each test run.",
)
@click.option(
    "--trajectory",
    "trajectory_out",
    type=CallPath(dir_okay=False, path_type=Path),
    default=None,
    help="Record every scored candidate and test run as JSONL.",
)
@click.option(
    "--apply",
    "do_apply",
    is_flag=True,
    help="Write the fix found into the workspace (atomically, inside the jail).",
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="With --apply: write even if the git worktree has uncommitted changes.",
)
def repair_cmd(
    files: tuple[str, ...],
    test_cmd: str,
    workspace: Path | None,
    as_json: bool,
    timeout: float,
    python_path: Path | None,
    budget: int,
    beam: int,
    order: str,
    prm: str,
    prm_weight: float | None,
    prm_form: str,
    exec_mode: str,
    llm_url: str | None,
    llm_model: str,
    test_timeout: float,
    test_memory_mb: float,
    trajectory_out: Path | None,
    do_apply: bool,
    allow_dirty: bool,
) -> None:
    """Repair FILES until --test-cmd passes, trying the best-rewarded candidates first.

    Candidates come from mutation repairs of the functions in the failing traceback,
    the language server's quick fixes, and an LLM when --llm-url is given. Nothing in
    the workspace changes unless --apply is given.
    """
    from codeprm.agents.loop import fix_diff
    from codeprm.analysis.learned import reward_weights
    from codeprm.cli.call import current, workbench, workspace_root
    from codeprm.workspace import ApplyOptions

    root = workspace_root(workspace)
    with workbench(root, python_path, timeout) as bench:
        scorer, why_not = (
            bench.prm(prm, "auto")
            if order == "reward"
            else (None, "not needed for --order proposer")
        )
        w, weight = reward_weights(scorer, None, prm_weight, prm_form)
        result = bench.repair(
            files,
            test_cmd,
            scorer=scorer,
            prm_weight=weight,
            weights=w,
            prm_form=prm_form,
            exec_mode=exec_mode,
            budget=budget,
            beam=beam,
            order=order,
            llm=(llm_url, llm_model) if llm_url else None,
            test_timeout=test_timeout,
            test_memory_mb=test_memory_mb,
            record_to=trajectory_out,
            write=ApplyOptions(allow_dirty=allow_dirty) if do_apply else None,
        )
    if as_json:
        echo(
            json.dumps(
                {
                    **result.to_json(),
                    "prm": None if scorer is None else scorer.checkpoint_hash,
                    "prmNotUsed": why_not,
                },
                sort_keys=True,
            )
        )
    else:
        if why_not and order == "reward" and prm == "auto":
            echo(f"learned PRM not used: {why_not}", err=True)
        if result.fixed and result.fix is not None:
            echo(
                f"fixed with {result.fix.id} (reward {result.fix_reward}) after "
                f"{result.test_runs} test run(s), {result.candidates} candidate(s) scored"
            )
            current().out.write(fix_diff(root, result.fix) if not do_apply else "applied\n")
        else:
            echo(
                f"no fix found: {result.test_runs} test run(s), {result.candidates} candidate(s); "
                + "; ".join(result.errors)
            )
    if not result.fixed:
        from codeprm.errors import NotFoundError

        raise NotFoundError("no candidate made the tests pass within the budget")
