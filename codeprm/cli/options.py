"""Options shared by several commands, defined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from codeprm.cli.call import CallPath

F = TypeVar("F", bound=Callable[..., Any])

workspace_option = click.option(
    "-w",
    "--workspace",
    "workspace",
    type=CallPath(file_okay=False, path_type=Path),
    default=None,
    help=(
        "Workspace root (default: the git top level containing the target, else the current "
        "directory)."
    ),
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
    help=(
        "Unit of the columns in selectors given and positions printed (lines and columns are "
        "1-based)."
    ),
)
python_option = click.option(
    "--python",
    "python_path",
    type=CallPath(dir_okay=False, path_type=Path),
    default=None,
    help=(
        "Python interpreter of the target environment (default: the workspace's .venv if "
        "any, else this one)."
    ),
)
verbose_option = click.option("-v", "--verbose", is_flag=True, help="Show more detail.")


prm_form_option = click.option(
    "--prm-form",
    type=click.Choice(["potential-v1", "step-v1"]),
    default="potential-v1",
    show_default=True,
    help=(
        "How the learned PRM enters the reward: the change of its potential (w/4 * (V(after) "
        "- V(before))), or the old per-step w * (p - 0.5)."
    ),
)


exec_option = click.option(
    "--exec",
    "exec_mode",
    type=click.Choice(["none", "doctest", "tests"]),
    default="doctest",
    show_default=True,
    help=(
        "Execution facts: run the edited definitions' doctests (doctest), also the tests "
        "that exercise the edited code (tests, with --test-cmd), before and after, in a "
        "capped sandbox."
    ),
)
exec_test_cmd_option = click.option(
    "--test-cmd",
    "exec_test_cmd",
    default=None,
    help=(
        "With --exec tests: the project's test command (unittest tests are selected by "
        "recorded call coverage)."
    ),
)


def server_options(func: F) -> F:
    """The options every command that talks to the language server takes."""
    for opt in reversed(
        (workspace_option, json_option, timeout_option, python_option, index_io_option)
    ):
        func = opt(func)
    return func


def prm_choice(default: str = "auto") -> Callable[[F], F]:
    """--prm: which learned PRM (``default`` differs: the step commands leave it off)."""
    return click.option(
        "--prm",
        "prm",
        default=default,
        show_default=True,
        help=(
            "The learned PRM: auto | default | realfix (the shipped fine-tuned delta) | none "
            "| PATH to a checkpoint."
        ),
    )


prm_option = prm_choice("auto")
prm_weight_option = click.option(
    "--prm-weight",
    type=click.FloatRange(min=0.0),
    default=None,
    help=(
        "w: the weight of the learned term (w/4 * dV, or w * (p - 0.5) with --prm-form "
        "step-v1) [default: the PRM checkpoint's fitted weight, else 1.0]."
    ),
)
device_option = click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where the PRM runs (auto: cuda when available).",
)
model_option = click.option(
    "--model",
    "model_path",
    type=CallPath(file_okay=False, path_type=Path),
    default=None,
    help="PRM checkpoint directory (default: the fetched SmolLM2-135M checkpoint).",
)
task_option = click.option(
    "--task", default="", help="What the edit should achieve (given to the learned PRM)."
)


def reward_options(prm_default: str = "none") -> Callable[[F], F]:
    """--weights, --formula, --prm, --prm-weight, --prm-form, --exec, --test-cmd, --task: how a step
    is rewarded."""
    options = (
        click.option(
            "--weights",
            default=None,
            help=(
                "Reward weights as key=value pairs, e.g. a=0.5,a_w=0.1,b=0.4,g=0.1,x=0.5 "
                "(default: the PRM checkpoint's fitted weights, else these)."
            ),
        ),
        click.option(
            "--formula",
            type=click.Choice(["potential-v2", "potential-v1", "published-v1"]),
            default="potential-v2",
            show_default=True,
            help=(
                "The deterministic reward (potential-v2 counts hidden diagnostics and "
                "failing tests)."
            ),
        ),
        prm_choice(prm_default),
        prm_weight_option,
        prm_form_option,
        exec_option,
        exec_test_cmd_option,
        task_option,
    )

    def apply(func: F) -> F:
        for opt in reversed(options):
            func = opt(func)
        return func

    return apply
