"""``codeprm schema export|validate``: the published JSON Schemas."""

from __future__ import annotations

from pathlib import Path

import click

from codeprm import safejson
from codeprm.cli.call import CallPath, echo
from codeprm.errors import UsageError


@click.group(name="schema")
def schema_group() -> None:
    """Export the published JSON Schemas, or validate bundles against them."""


@schema_group.command(name="export")
@click.argument("directory", type=CallPath(file_okay=False, path_type=Path))
def export_cmd(directory: Path) -> None:
    """Write every published schema into DIRECTORY."""
    from codeprm.bundles.schema import export

    for path in export(directory):
        echo(str(path))


@schema_group.command(name="validate")
@click.argument("files", nargs=-1, required=True, type=CallPath(dir_okay=False, path_type=Path))
def validate_cmd(files: tuple[Path, ...]) -> None:
    """Validate bundle FILES (JSON, or JSONL with one bundle per line) and their ids."""
    from codeprm.bundles.schema import validate_bundle

    count = 0
    for path in files:
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"{path}: cannot read: {err}") from err
        lines = (
            [text] if path.suffix != ".jsonl" else [ln for ln in text.splitlines() if ln.strip()]
        )
        for number, chunk in enumerate(lines, 1):
            where = f"{path}:{number}" if path.suffix == ".jsonl" else str(path)
            bundle = safejson.loads(chunk, what=where)
            validate_bundle(bundle, where=where)
            count += 1
    echo(f"{count} bundle(s) valid")
