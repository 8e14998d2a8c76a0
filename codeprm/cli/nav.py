"""Navigation commands: def, refs, hover, symbols, diag (thin: parse, call, render)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from codeprm.cli import render
from codeprm.cli.call import echo
from codeprm.cli.options import server_options

SELECTOR_HELP = (
    "SELECTOR names a place: a cursor path@L<line>:C<col>, a range path@R(l,c->l,c) "
    "(1-based lines and columns), or any other selector kind (see 'codeprm locate --help')."
)


def _workbench(
    workspace: Path | None, target: str, python_path: Path | None, timeout: float
) -> Any:
    from codeprm.cli.call import workbench, workspace_root

    path_part = target.split("@", 1)[0] if "://" not in target else "."
    return workbench(workspace_root(workspace, Path(path_part or ".")), python_path, timeout)


def _converter(root: Path, index_io: str) -> render.Convert | None:
    """Server (utf-16) positions -> 1-based positions in the --index-io unit."""
    if index_io == "utf-16":
        return None
    from codeprm.analysis.positions import converter

    return converter(root, index_io)


def _positional(name: str, op: str, show: Callable[..., None]) -> click.Command:
    @click.command(name=name, help=f"{op} at SELECTOR.\n\n{SELECTOR_HELP}")
    @click.argument("selector")
    @server_options
    def command(
        selector: str,
        workspace: Path | None,
        as_json: bool,
        timeout: float,
        python_path: Path | None,
        index_io: str,
    ) -> None:
        with _workbench(workspace, selector, python_path, timeout) as bench:
            bundle = getattr(bench, _METHOD[name])(selector, index_io)
            if as_json:
                render.emit_json(bundle)
            else:
                show(bundle, _converter(bench.root, index_io))

    return command


_METHOD = {"def": "definition", "refs": "references", "hover": "hover"}  # Workbench methods

definition_cmd = _positional("def", "Go to the definition of the symbol", render.render_locations)
references_cmd = _positional("refs", "Find every reference to the symbol", render.render_locations)
hover_cmd = _positional(
    "hover", "Show the type and documentation of the symbol", render.render_hover
)


@click.command(name="symbols")
@click.argument("file")
@server_options
def symbols_cmd(
    file: str,
    workspace: Path | None,
    as_json: bool,
    timeout: float,
    python_path: Path | None,
    index_io: str,
) -> None:
    """List the symbols defined in FILE, nested."""
    with _workbench(workspace, file, python_path, timeout) as bench:
        bundle = bench.symbols(file)
        render.emit_json(bundle) if as_json else render.render_symbols(
            bundle, _converter(bench.root, index_io)
        )


@click.command(name="diag")
@click.argument("files", nargs=-1)
@server_options
def diag_cmd(
    files: tuple[str, ...],
    workspace: Path | None,
    as_json: bool,
    timeout: float,
    python_path: Path | None,
    index_io: str,
) -> None:
    """Diagnostics of FILES, or of every Python file in the workspace when none are given."""
    with _workbench(workspace, files[0] if files else ".", python_path, timeout) as bench:
        bundle = bench.diag(files)
        for _path, reason in bench.skipped():
            echo(f"codeprm: skipped {reason}", err=True)
        render.emit_json(bundle) if as_json else render.render_diagnostics(
            bundle, _converter(bench.root, index_io)
        )
