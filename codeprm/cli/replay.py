"""``codeprm replay``: recompute a scored trajectory's rewards under other settings, offline."""

from __future__ import annotations

import json
from pathlib import Path

import click

from codeprm.cli.options import json_option


@click.command(name="replay")
@click.argument("bundles", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--weights", default=None, help="Reward weights, e.g. a=1,a_w=0,b=0.4,g=0.1.")
@click.option("--formula", type=click.Choice(["potential-v1", "published-v1"]), default="potential-v1", show_default=True)
@json_option
def replay_cmd(bundles: Path, weights: str | None, formula: str, as_json: bool) -> None:
    """Re-score the step BUNDLES (JSONL from 'codeprm score --bundles') with no server."""
    from codeprm.rewards import Weights
    from codeprm.rewards.replay import read_bundles, rescore

    rows = rescore(read_bundles(bundles), Weights.parse(weights), formula)
    total = round(sum(r.reward["total"] for r in rows), 12)
    if as_json:
        click.echo(json.dumps({"formula": formula, "weights": Weights.parse(weights).to_json(), "total": total, "steps": [r.to_json() for r in rows]}, sort_keys=True))
        return
    for r in rows:
        click.echo(f"step {r.index}: {r.original:+g} -> {r.reward['total']:+g}")
    click.echo(f"total {total:+g} over {len(rows)} step(s)")
