"""``codeprm doctor``: server name and version, python, encoding, config digest, installs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from codeprm.cli.call import echo
from codeprm.cli.options import json_option, python_option, timeout_option, workspace_option
from codeprm.errors import ServerCrashError


@click.command(name="doctor")
@workspace_option
@json_option
@timeout_option
@python_option
def doctor_cmd(
    workspace: Path | None, as_json: bool, timeout: float, python_path: Path | None
) -> None:
    """Check that everything codeprm needs is installed and that the server starts."""
    from codeprm.analysis import doctor
    from codeprm.cli.call import workspace_root

    root = workspace_root(workspace)
    checks, server = doctor.run(root, python_path, timeout)
    if as_json:
        echo(
            json.dumps(
                {"workspace": str(root), "server": server, "checks": [c.to_json() for c in checks]},
                sort_keys=True,
            )
        )
    else:
        from codeprm.cli.render import console

        out = console()
        out.print(f"workspace        {root}")
        for key in ("name", "version", "positionEncoding", "python", "configDigest"):
            if key in server:
                out.print(f"{key:<16} {server[key]}", markup=False)
        for c in checks:
            mark = (
                "[green]ok[/green]"
                if c.ok
                else ("[red]FAIL[/red]" if c.required else "[yellow]absent[/yellow]")
            )
            out.print(f"{mark:<20} {c.name}: ", end="")
            out.print(c.detail, markup=False)
    failed = [c for c in checks if c.required and not c.ok]
    if failed:
        raise ServerCrashError(
            f"{len(failed)} required check(s) failed: " + "; ".join(c.name for c in failed)
        )
