"""Edit commands: rename, actions, apply. Preview by default; --apply writes atomically."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from codeprm.cli import render
from codeprm.cli.call import current, echo
from codeprm.cli.options import server_options, verbose_option

F = TypeVar("F", bound=Callable[..., Any])


def write_options(func: F) -> F:
    for opt in reversed(
        (
            click.option(
                "--apply",
                "do_apply",
                is_flag=True,
                help="Write the change (default: preview only).",
            ),
            click.option(
                "--allow-dirty",
                is_flag=True,
                help="Write even if the git worktree has uncommitted changes.",
            ),
            click.option(
                "--allow",
                "allow",
                multiple=True,
                metavar="GLOB",
                help="Only paths matching a GLOB may be written (repeatable).",
            ),
            click.option(
                "--deny",
                "deny",
                multiple=True,
                metavar="GLOB",
                help="Paths matching a GLOB may never be written (repeatable).",
            ),
        )
    ):
        func = opt(func)
    return func


def _workbench(workspace: Path | None, python_path: Path | None, timeout: float) -> Any:
    from codeprm.cli.call import workbench, workspace_root

    return workbench(workspace_root(workspace), python_path, timeout)


def _show(planned: Any, as_json: bool, applied: bool) -> None:
    if as_json:
        render.emit_json(planned.bundle)
        return
    out = current().out
    out.write(planned.diff)
    out.flush()
    echo(
        ("applied: " if applied else "preview only, nothing written (use --apply): ")
        + f"{len(planned.change)} file(s)",
        err=True,
    )


@click.command(name="rename")
@click.argument("selector")
@click.argument("new_name")
@server_options
@write_options
@click.option(
    "--allow-ambiguous",
    is_flag=True,
    help="With --apply: accept a selector resolved with confidence below 1.",
)
def rename_cmd(
    selector: str,
    new_name: str,
    workspace: Path | None,
    as_json: bool,
    timeout: float,
    python_path: Path | None,
    index_io: str,
    do_apply: bool,
    allow_dirty: bool,
    allow: tuple[str, ...],
    deny: tuple[str, ...],
    allow_ambiguous: bool,
) -> None:
    """Rename the symbol at SELECTOR to NEW_NAME everywhere (gated by prepareRename).

    Refused when NEW_NAME is not an identifier, clashes with a definition in the same
    scope, or when the renamed code has diagnostics the original did not.
    """
    from codeprm.workspace import ApplyOptions

    with _workbench(workspace, python_path, timeout) as bench:
        write = ApplyOptions(allow_dirty, allow, deny) if do_apply else None
        planned, _ = bench.rename(
            selector, new_name, index_io, write=write, allow_ambiguous=allow_ambiguous
        )
        _show(planned, as_json, do_apply)


@click.command(name="actions")
@click.argument("selector")
@server_options
@verbose_option
def actions_cmd(
    selector: str,
    workspace: Path | None,
    as_json: bool,
    timeout: float,
    python_path: Path | None,
    index_io: str,
    verbose: bool,
) -> None:
    """List the code actions (quick fixes, refactorings) at SELECTOR with their edits (-v: the
    diffs)."""
    with _workbench(workspace, python_path, timeout) as bench:
        bundle = bench.actions(selector, index_io)
    if as_json:
        render.emit_json(bundle)
        return
    actions = bundle["facts"]["actions"]
    if not actions:
        echo("no code actions")
    for n, action in enumerate(actions):
        echo(f"[{n}] {action['kind'] or '-'}: {action['title']}")
        if verbose and action.get("diff"):
            echo(action["diff"])


@click.command(name="apply")
@click.argument("edit")
@server_options
@write_options
@click.option(
    "--git-3way",
    "three_way",
    is_flag=True,
    help="Apply a diff through 'git apply --3way'; conflicts exit 70 with the hunks.",
)
def apply_cmd(
    edit: str,
    workspace: Path | None,
    as_json: bool,
    timeout: float,
    python_path: Path | None,
    index_io: str,
    do_apply: bool,
    allow_dirty: bool,
    allow: tuple[str, ...],
    deny: tuple[str, ...],
    three_way: bool,
) -> None:
    """Preview EDIT (a unified diff or an LSP WorkspaceEdit JSON file, '-' for stdin); --apply
    writes it."""
    from codeprm.cli.step import read_edit
    from codeprm.workspace import ApplyOptions

    text = read_edit(edit)
    options = ApplyOptions(allow_dirty, allow, deny)
    with _workbench(workspace, python_path, timeout) as bench:
        if three_way:
            if not do_apply:
                raise click.UsageError("--git-3way merges into the worktree: give --apply too")
            result = bench.apply_three_way(text, options)
            echo(f"applied through git apply --3way: {len(result.change)} file(s)", err=True)
            return
        planned, _ = bench.apply(text, write=options if do_apply else None)
        _show(planned, as_json, do_apply)
