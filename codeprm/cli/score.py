"""``codeprm score``: score a commit range or a trajectory with one warm session, for CI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from codeprm.cli.call import CallPath, current, echo
from codeprm.cli.options import (
    json_option,
    python_option,
    reward_options,
    timeout_option,
    workspace_option,
)
from codeprm.errors import UsageError


@click.command(name="score")
@click.argument("trajectory", required=False, type=CallPath(dir_okay=False, path_type=Path))
@click.option(
    "--rev-range", help="Score each commit of BASE..HEAD (first parent, oldest first) as one step."
)
@workspace_option
@json_option
@timeout_option
@python_option
@reward_options()
@click.option(
    "--bundles",
    "bundles_out",
    type=CallPath(dir_okay=False, path_type=Path),
    help="Write every step bundle to this JSONL file as it is produced.",
)
@click.option(
    "--sarif",
    "sarif_out",
    type=CallPath(dir_okay=False, path_type=Path),
    help="Write SARIF 2.1.0 (one result per introduced diagnostic).",
)
@click.option(
    "--markdown",
    "markdown_out",
    type=CallPath(dir_okay=False, path_type=Path),
    help="Write a Markdown summary.",
)
@click.option(
    "--annotations",
    is_flag=True,
    help="Print GitHub workflow annotations for introduced diagnostics.",
)
@click.option(
    "--fail-under", type=float, default=None, help="Exit 77 when the total reward is below this."
)
@click.option(
    "--fail-on-new-errors", is_flag=True, help="Exit 78 when any step introduced an error."
)
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS",
    help="Measure the trajectory's states in parallel on Ray actors (pip install "
    "'codeprm[ray]'); 'auto' joins RAY_ADDRESS when set, else starts a local Ray. The "
    "bundles are the ones one process gives.",
)
@click.option(
    "--actors",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="With --ray: actors measuring states.",
)
def score_cmd(
    trajectory: Path | None,
    rev_range: str | None,
    workspace: Path | None,
    as_json: bool,
    timeout: float,
    python_path: Path | None,
    weights: str | None,
    formula: str,
    prm: str,
    prm_weight: float | None,
    prm_form: str,
    exec_mode: str,
    exec_test_cmd: str | None,
    task: str,
    bundles_out: Path | None,
    sarif_out: Path | None,
    markdown_out: Path | None,
    annotations: bool,
    fail_under: float | None,
    fail_on_new_errors: bool,
    ray_address: str | None,
    actors: int,
) -> None:
    """Score TRAJECTORY (codeprm JSONL) or --rev-range BASE..HEAD step by step.

    Nothing on disk changes: every state is rebuilt in memory (from git objects for a
    rev range). Prints a table; --bundles keeps every step's bundle as it is scored.
    """
    from codeprm.analysis.learned import reward_weights
    from codeprm.analysis.trajectory import check_gates, load_steps, summary
    from codeprm.bundles import encode
    from codeprm.cli.call import workbench, workspace_root
    from codeprm.rewards import Weights

    if (trajectory is None) == (rev_range is None):
        raise UsageError("give either a TRAJECTORY file or --rev-range BASE..HEAD")
    if ray_address is not None and rev_range is not None:
        raise UsageError("--ray scores a TRAJECTORY file, not a --rev-range")
    w = Weights.parse(weights)
    root = workspace_root(workspace)
    sink = bundles_out.open("wb") if bundles_out else None

    def keep(bundle: dict[str, Any]) -> None:
        if sink is not None:
            sink.write(encode(bundle) + b"\n")
            sink.flush()

    try:
        with workbench(root, python_path, timeout, server=rev_range is None) as bench:
            scorer, _ = bench.prm(prm, "auto")
            w, weight = reward_weights(scorer, weights, prm_weight, prm_form)
            options = {
                "weights": w,
                "formula": formula,
                "scorer": scorer,
                "prm_weight": weight,
                "task": task,
                "prm_form": prm_form,
                "exec_mode": exec_mode,
                "test_cmd": exec_test_cmd,
            }
            if rev_range is not None:
                from codeprm.workspace.history import commit_steps

                history = commit_steps(root, rev_range)
                label = f"{rev_range} ({len(history.steps)} commits)"
                bundles = _with_progress(
                    lambda progress: bench.score_range(
                        history, on_bundle=keep, on_progress=progress, **options
                    ),
                    len(history.steps),
                    label,
                )
            else:
                assert trajectory is not None
                steps = load_steps(trajectory)
                label = f"{trajectory} ({len(steps)} steps)"
                premeasure = None
                if ray_address is not None:
                    from codeprm.distributed.states import RayMeasure

                    premeasure = RayMeasure(
                        root,
                        actors=actors,
                        address=ray_address,
                        python=python_path,
                        timeout=timeout,
                        exec_options={"exec_mode": exec_mode, "test_cmd": exec_test_cmd},
                    )
                bundles = _with_progress(
                    lambda progress: bench.score_trajectory(
                        steps,
                        on_bundle=keep,
                        on_progress=progress,
                        premeasure=premeasure,
                        **options,
                    ),
                    len(steps),
                    label,
                )
    finally:
        if sink is not None:
            sink.close()
    _reports(bundles, sarif_out, markdown_out, annotations)
    result = summary(bundles)
    if as_json:
        echo(json.dumps(result, sort_keys=True))
    else:
        _table(bundles, result["total"])
    check_gates(bundles, fail_under=fail_under, fail_on_new_errors=fail_on_new_errors)


def _with_progress(run: Any, total: int, label: str) -> Any:
    if not current().err.isatty():
        return run(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from codeprm.cli.call import console

    with Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)

        def moved(done: int, _total: int) -> None:
            bar.update(task, completed=done)
            bar.refresh()  # draw every step now, not at the next tick of the refresh thread

        return run(moved)


def _table(bundles: list[dict[str, Any]], total: float) -> None:
    from rich.table import Table

    from codeprm.cli.render import console

    table = Table(show_edge=False)
    for name in ("step", "source", "reward", "errors", "+new", "-fixed", "safe", "s"):
        table.add_column(name, justify="left" if name == "source" else "right")
    for i, b in enumerate(bundles):
        meta, facts = b["meta"], b["facts"]
        commit = (
            f"{meta['commit'][:8]} {meta.get('subject', '')[:50]}"
            if "commit" in meta
            else _source_label(meta)
        )
        table.add_row(
            str(i),
            commit,
            f"{b['processReward']['total']:+g}",
            str(facts["after"]["counts"]["error"]),
            str(len(facts["introduced"])),
            str(len(facts["fixed"])),
            "yes" if facts["safety"]["passed"] else "NO",
            f"{meta.get('durationMs', 0.0) / 1000:.2f}",
        )
    out = console()
    out.print(table)
    out.print(f"total reward {total:+g} over {len(bundles)} step(s)")


def _source_label(meta: dict[str, Any]) -> str:
    source = meta.get("source") or {}
    where = next((f"{k} {source[k]}" for k in ("entry", "event", "ref") if k in source), "")
    return " ".join(str(x) for x in (meta.get("id"), source.get("kind"), where) if x)


def _reports(
    bundles: list[dict[str, Any]],
    sarif_out: Path | None,
    markdown_out: Path | None,
    annotations: bool,
) -> None:
    if sarif_out is not None:
        from codeprm import __version__
        from codeprm.reports.sarif import to_sarif

        sarif_out.write_text(
            json.dumps(to_sarif(bundles, tool_version=__version__), indent=2, sort_keys=True)
            + "\n",
            "utf-8",
        )
    if markdown_out is not None:
        from codeprm.reports.markdown import to_markdown

        markdown_out.write_text(to_markdown(bundles, title="codeprm step rewards"), "utf-8")
    if annotations:
        from codeprm.reports.annotations import to_github_annotations

        for line in to_github_annotations(bundles):
            echo(line)
