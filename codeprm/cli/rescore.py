"""``codeprm replay``: recompute a scored trajectory's rewards under other settings, offline.

(The command keeps its name; the module and the library's ``rewards.rescore`` say what it
does, apart from ``codeprm trace replay``'s frame playback.)
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from codeprm.cli.call import CallPath, echo
from codeprm.cli.options import json_option


@click.command(name="replay")
@click.argument("bundles", type=CallPath(dir_okay=False, path_type=Path))
@click.option(
    "--weights",
    default=None,
    help="Reward weights, e.g. a=1,a_w=0,b=0.4,g=0.1 (default: each bundle's recorded weights).",
)
@click.option(
    "--formula",
    type=click.Choice(["potential-v2", "potential-v1", "published-v1"]),
    default="potential-v2",
    show_default=True,
)
@click.option(
    "--prm-weight",
    type=click.FloatRange(min=0.0),
    default=None,
    help="Another w for the recorded PRM term.",
)
@click.option(
    "--prm",
    "prm",
    default=None,
    help="Re-score the recorded PRM inputs with this checkpoint (PATH or 'default').",
)
@json_option
def rescore_cmd(
    bundles: Path,
    weights: str | None,
    formula: str,
    prm_weight: float | None,
    prm: str | None,
    as_json: bool,
) -> None:
    """Re-score the step BUNDLES (JSONL from 'codeprm score --bundles') with no server.

    Steps scored with a learned PRM keep its recorded value (the learned potential's
    change, or the probability of the old step form) unless --prm gives a checkpoint to
    re-score their recorded inputs with.
    """
    from codeprm.rewards import Weights
    from codeprm.rewards.rescore import read_bundles, rescore

    recorded = list(read_bundles(bundles))
    probabilities = None
    if prm is not None:
        from codeprm.analysis.learned import load_prm
        from codeprm.analysis.step import rescore_prm

        scorer, _ = load_prm(prm, "auto")
        probabilities = [
            rescore_prm(scorer, b["processReward"]["prm"])
            if (b["processReward"] or {}).get("prm")
            else None
            for b in recorded
        ]
    given = (
        Weights.parse(weights) if weights is not None else None
    )  # None: each bundle's recorded weights
    rows = rescore(recorded, given, formula, prm_weight=prm_weight, probabilities=probabilities)
    total = round(sum(r.reward["total"] for r in rows), 12)
    if as_json:
        echo(
            json.dumps(
                {
                    "formula": formula,
                    "weights": given.to_json() if given is not None else "recorded",
                    "total": total,
                    "steps": [r.to_json() for r in rows],
                },
                sort_keys=True,
            )
        )
        return
    for r in rows:
        echo(f"step {r.index}: {r.original:+g} -> {r.reward['total']:+g}")
    echo(f"total {total:+g} over {len(rows)} step(s)")
