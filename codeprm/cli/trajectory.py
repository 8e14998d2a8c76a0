"""``codeprm trajectory import``: turn an agent's run into codeprm's trajectory JSONL."""

from __future__ import annotations

from pathlib import Path

import click

from codeprm.cli.call import CallPath, current, echo
from codeprm.cli.options import workspace_option


@click.group(name="trajectory")
def trajectory_group() -> None:
    """Trajectories: import SWE-agent and OpenHands runs (score them with 'codeprm score')."""


@trajectory_group.command(name="import")
@click.argument("source", type=CallPath(exists=False, path_type=Path))
@click.option(
    "--from",
    "kind",
    type=click.Choice(["swe-agent", "openhands"]),
    required=True,
    help="The format of SOURCE.",
)
@workspace_option
@click.option(
    "-o",
    "--output",
    type=CallPath(dir_okay=False, path_type=Path),
    default=None,
    help="Write here (default: stdout).",
)
@click.option(
    "--strip-prefix",
    default=None,
    help="OpenHands: the sandbox path prefix to remove (default: detected).",
)
@click.option(
    "--instance-id",
    default=None,
    help=(
        "OpenHands evaluation output.jsonl: the record to import (required when it holds several)."
    ),
)
def import_cmd(
    source: Path,
    kind: str,
    workspace: Path | None,
    output: Path | None,
    strip_prefix: str | None,
    instance_id: str | None,
) -> None:
    """Import SOURCE (a SWE-agent .traj, an OpenHands event stream or evaluation output.jsonl) as
    trajectory JSONL.

    The workspace (-w) must hold the repository as it was when the run started: the files
    the run edits (of any type) are read from it. A SWE-agent run without per-turn diffs
    (0.x) is replayed one step per edit turn; a run whose replay does not end at its
    submitted patch gets one closing step that does (source.from names the patch).
    """
    from codeprm.cli.call import workspace_root
    from codeprm.errors import NotFoundError, UsageError
    from codeprm.trajectories import write_jsonl
    from codeprm.trajectories.common import WorkspaceFiles

    if not source.exists():
        raise NotFoundError(f"{source}: no such file or directory")
    base = WorkspaceFiles(workspace_root(workspace))
    if kind == "swe-agent":
        from codeprm.trajectories.swe_agent import import_swe_agent

        if instance_id is not None:
            raise UsageError("--instance-id is for OpenHands evaluation outputs")
        steps = import_swe_agent(source, base)
    else:
        from codeprm.trajectories.openhands import import_openhands

        steps = import_openhands(source, base, strip_prefix=strip_prefix, instance_id=instance_id)
    if output is None:
        n = write_jsonl(steps, current().out)
    else:
        with output.open("w", encoding="utf-8") as out:
            n = write_jsonl(steps, out)
    echo(f"{n} step(s) imported", err=True)
