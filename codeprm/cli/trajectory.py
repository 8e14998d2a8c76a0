"""``codeprm trajectory import``: turn an agent's run into codeprm's trajectory JSONL."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from codeprm.cli.options import workspace_option


@click.group(name="trajectory")
def trajectory_group() -> None:
    """Trajectories: import SWE-agent and OpenHands runs (score them with 'codeprm score')."""


@trajectory_group.command(name="import")
@click.argument("source", type=click.Path(exists=False, path_type=Path))
@click.option("--from", "kind", type=click.Choice(["swe-agent", "openhands"]), required=True, help="The format of SOURCE.")
@workspace_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here (default: stdout).")
@click.option("--strip-prefix", default=None, help="OpenHands: the sandbox path prefix to remove (default: detected).")
def import_cmd(source: Path, kind: str, workspace: Path | None, output: Path | None, strip_prefix: str | None) -> None:
    """Import SOURCE (a SWE-agent .traj, or an OpenHands event stream) as trajectory JSONL.

    The workspace (-w) must hold the repository as it was when the run started: its
    Python files are the base the steps' diffs apply to.
    """
    from codeprm.analysis.files import find_root
    from codeprm.analysis.navigate import Analyzer
    from codeprm.analysis.step import StepEngine
    from codeprm.errors import NotFoundError
    from codeprm.trajectories import write_jsonl

    if not source.exists():
        raise NotFoundError(f"{source}: no such file or directory")
    base = StepEngine(Analyzer(root=find_root(Path.cwd(), workspace))).workspace_texts()
    if kind == "swe-agent":
        from codeprm.trajectories.swe_agent import import_swe_agent

        steps = import_swe_agent(source, base)
    else:
        from codeprm.trajectories.openhands import import_openhands

        steps = import_openhands(source, base, strip_prefix=strip_prefix)
    if output is None:
        n = write_jsonl(steps, sys.stdout)
    else:
        with output.open("w", encoding="utf-8") as out:
            n = write_jsonl(steps, out)
    click.echo(f"{n} step(s) imported", err=True)
