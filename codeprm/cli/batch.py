"""``codeprm batch``: many requests as JSONL in, results as JSONL out, one warm session."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from codeprm.cli.options import python_option, timeout_option, workspace_option
from codeprm.errors import CodeprmError, UsageError

OPS = ("diag", "def", "refs", "hover", "symbols", "step")


def _dispatch(engine: Any, op: str, args: dict[str, Any]) -> dict[str, Any]:
    from codeprm.analysis.step import score_edit

    an = engine.analyzer
    index_io = args.get("index_io", "utf-16")
    table: dict[str, Callable[[], dict[str, Any]]] = {
        "diag": lambda: an.diagnostics(args.get("files", [])),
        "def": lambda: an.definition(args["selector"], index_io),
        "refs": lambda: an.references(args["selector"], index_io),
        "hover": lambda: an.hover(args["selector"], index_io),
        "symbols": lambda: an.symbols(args["file"]),
        "step": lambda: score_edit(engine, args["edit"], confidence=float(args.get("confidence", 1.0))).bundle,
    }
    if op not in table:
        raise UsageError(f"unknown op {op!r} (known: {', '.join(OPS)})")
    try:
        return table[op]()
    except KeyError as err:
        raise UsageError(f"op {op!r} needs the argument {err.args[0]!r}") from err


@click.command(name="batch")
@click.argument("requests", required=False, default="-")
@workspace_option
@timeout_option
@python_option
def batch_cmd(requests: str, workspace: Path | None, timeout: float, python_path: Path | None) -> None:
    """Run REQUESTS (JSONL file, or '-' for stdin) through one warm session.

    Each line is {"id": any, "op": "diag|def|refs|hover|symbols|step", "args": {...}}
    (args: files, selector, index_io, file, edit, confidence). Each result is written as
    soon as it is ready: {"id", "exitCode", "bundle"} or {"id", "exitCode", "error"}.
    A failing request does not stop the others; the exit code is the first failure's.
    """
    from codeprm.analysis.files import find_root
    from codeprm.analysis.navigate import open_analyzer
    from codeprm.analysis.step import StepEngine

    source = sys.stdin if requests == "-" else _open(requests)
    first_failure = 0
    with open_analyzer(find_root(Path.cwd(), workspace), python_path, timeout) as an:
        engine = StepEngine(an)
        for number, line in enumerate(source, 1):
            if not line.strip():
                continue
            rid: Any = None
            try:
                try:
                    req = json.loads(line)
                except json.JSONDecodeError as err:
                    raise UsageError(f"line {number}: not JSON: {err.msg}") from err
                if not isinstance(req, dict):
                    raise UsageError(f"line {number}: a request is a JSON object")
                rid = req.get("id", number)
                result: dict[str, Any] = {"id": rid, "exitCode": 0, "bundle": _dispatch(engine, str(req.get("op")), dict(req.get("args") or {}))}
            except CodeprmError as err:
                result = {"id": rid if rid is not None else number, "exitCode": err.exit_code, "error": err.one_line()}
                first_failure = first_failure or err.exit_code
            sys.stdout.write(json.dumps(result, sort_keys=True, ensure_ascii=False) + "\n")
            sys.stdout.flush()
    if first_failure:
        raise click.exceptions.Exit(first_failure)


def _open(path: str) -> Any:
    try:
        return open(path, encoding="utf-8")
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror or err}") from err
