"""``codeprm servers``: the language servers codeprm runs, and installing the ones it fetches."""

from __future__ import annotations

import json

import click

from codeprm.cli.call import echo
from codeprm.cli.options import json_option


@click.group(name="servers")
def servers_group() -> None:
    """Language servers: one per language (Python, TypeScript/JavaScript, C/C++)."""


@servers_group.command(name="list")
@json_option
def list_cmd(as_json: bool) -> None:
    """Each language's server, its version and where it comes from."""
    from codeprm.lsp.provision import status

    rows = status()
    if as_json:
        echo(json.dumps(rows, sort_keys=True))
        return
    for row in rows:
        echo(
            f"{row['language']:<12} {row['server']:<14} "
            f"{row['version'] or 'not installed':<24} {row['provider'] or ''}"
        )


@servers_group.command(name="install")
@click.argument("language", type=click.Choice(["typescript"]))
@click.option("--force", is_flag=True, help="Fetch again even when the cache holds it.")
@json_option
def install_cmd(language: str, force: bool, as_json: bool) -> None:
    """Fetch a server into codeprm's cache, pinned by version and integrity hash.

    typescript: TypeScript 7's native server (@typescript/typescript-<platform>), fetched with
    the npm of the Node that basedpyright's wheel ships. It is also fetched on first use.
    """
    from codeprm.lsp.provision import install_typescript

    done = install_typescript(force=force)
    row = {
        "language": language,
        "version": done.version,
        "path": str(done.path),
        "integrity": done.integrity,
        "fetched": done.fetched,
    }
    if as_json:
        echo(json.dumps(row, sort_keys=True))
    else:
        echo(
            f"{'fetched' if done.fetched else 'cached'} typescript {done.version} "
            f"({done.integrity}) at {done.path}"
        )
