"""``codeprm rank FILE --candidates CANDS.jsonl``: best-first ranking of candidate edits."""

from __future__ import annotations

import json
from pathlib import Path

import click

from codeprm.cli.call import CallPath, echo
from codeprm.cli.options import (
    device_option,
    exec_option,
    exec_test_cmd_option,
    json_option,
    prm_form_option,
    prm_option,
    prm_weight_option,
    python_option,
    task_option,
    timeout_option,
    workspace_option,
)


@click.command(name="rank")
@click.argument("file", type=CallPath(dir_okay=False, path_type=Path))
@click.option(
    "--candidates",
    "candidates_file",
    required=True,
    type=CallPath(dir_okay=False, path_type=Path),
    help='JSONL, one candidate per line: {"id": ..., "new_text": ...} or {"id": ..., "diff": ...}.',
)
@workspace_option
@task_option
@json_option
@timeout_option
@python_option
@prm_option
@prm_weight_option
@click.option(
    "--weights",
    default=None,
    help=(
        "Reward weights as key=value pairs, e.g. a=0.5,a_w=0.1,x=0.5 (default: the PRM "
        "checkpoint's fitted weights, else the built-in ones)."
    ),
)
@prm_form_option
@exec_option
@exec_test_cmd_option
@device_option
def rank_cmd(
    file: Path,
    candidates_file: Path,
    workspace: Path | None,
    task: str,
    as_json: bool,
    timeout: float,
    python_path: Path | None,
    prm: str,
    prm_weight: float | None,
    weights: str | None,
    prm_form: str,
    exec_mode: str,
    exec_test_cmd: str | None,
    device: str,
) -> None:
    """Rank candidate edits of FILE, best first, by the combined reward. Nothing is written.

    Every candidate starts from FILE as it is on disk. With --json prints a JSON list,
    best first, of {"id", "reward", "components", ...}; a candidate that cannot be
    scored has "reward": null and an "error", and the others are still ranked.
    """
    from codeprm.analysis.learned import reward_weights
    from codeprm.analysis.rank import read_candidates
    from codeprm.cli.call import workbench, workspace_root
    from codeprm.rewards import Weights

    candidates = read_candidates(candidates_file)
    root = workspace_root(workspace, file)
    Weights.parse(weights)  # a bad --weights fails before the model loads
    with workbench(root, python_path, timeout) as bench:
        scorer, why_not = bench.prm(prm, device)
        w, weight = reward_weights(scorer, weights, prm_weight, prm_form)
        ranked = bench.rank(
            file,
            candidates,
            task=task,
            scorer=scorer,
            prm_weight=weight,
            prm_form=prm_form,
            weights=w,
            exec_mode=exec_mode,
            test_cmd=exec_test_cmd,
        )
    if as_json:
        echo(json.dumps([r.to_json() for r in ranked], sort_keys=True))
        return
    if why_not and prm == "auto":
        echo(f"learned PRM not used: {why_not}", err=True)
    for n, r in enumerate(ranked, 1):
        if r.reward is None:
            echo(f"  -  {r.id}: error: {r.error.one_line() if r.error else '?'}")
            continue
        prm_part = r.components.get("prm")
        extra = ""
        if prm_part:
            said = (
                f"dV={prm_part['delta']:+.3f}"
                if "delta" in prm_part
                else f"p={prm_part['probability']:.3f}"
            )
            extra = f"  (deterministic {r.components['deterministic']:+g}, PRM {said})"
        if "guard" in r.components:
            extra += f"  [caught: {', '.join(r.components['guard']['detected'])}]"
        echo(f"{n:>3}. {r.id}: {r.reward:+.4f}{extra}")
