"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

workspace_option = click.option(
    "-w",
    "--workspace",
    "workspace",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Workspace root (default: the git top level containing the target, else the current directory).",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the analysis bundle as canonical JSON."
)
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds allowed for each language-server request.",
)
index_io_option = click.option(
    "--index-io",
    type=click.Choice(["utf-16", "utf-8", "codepoint"]),
    default="utf-16",
    show_default=True,
    help="Unit of the columns in selectors given and positions printed (lines and columns are 1-based).",
)
python_option = click.option(
    "--python",
    "python_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Python interpreter of the target environment (default: the workspace's .venv if any, else this one).",
)
verbose_option = click.option("-v", "--verbose", is_flag=True, help="Show more detail.")


def server_options(func: F) -> F:
    """The options every command that talks to the language server takes."""
    for opt in reversed((workspace_option, json_option, timeout_option, python_option, index_io_option, verbose_option)):
        func = opt(func)
    return func
