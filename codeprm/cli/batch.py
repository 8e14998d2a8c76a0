"""``codeprm batch``: many requests as JSONL in, results as JSONL out, one warm session."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from codeprm import safejson
from codeprm.cli.options import python_option, timeout_option, workspace_option
from codeprm.errors import CodeprmError, UsageError

OPS = ("diag", "def", "refs", "hover", "symbols", "step")


INDEX_IOS = ("utf-16", "utf-8", "codepoint")

#: argument -> (check, what it must be); every argument is checked before any op runs
_ARGS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "files": (
        lambda v: isinstance(v, list) and all(isinstance(x, str) and x for x in v),
        "an array of file names",
    ),
    "selector": (lambda v: isinstance(v, str) and bool(v), "a selector string"),
    "file": (lambda v: isinstance(v, str) and bool(v), "a file name"),
    "edit": (lambda v: isinstance(v, str), "a string (a unified diff or WorkspaceEdit JSON)"),
    "index_io": (lambda v: v in INDEX_IOS, "one of " + ", ".join(INDEX_IOS)),
    "confidence": (
        lambda v: not isinstance(v, bool) and isinstance(v, int | float) and 0.0 <= v <= 1.0,
        "a number in [0, 1]",
    ),
}


def check_request(req: Any, number: int) -> tuple[Any, str, dict[str, Any]]:
    """(id, op, args) of one decoded request line; UsageError (2) naming what is wrong."""
    if not isinstance(req, dict):
        raise UsageError(f"line {number}: a request is a JSON object")
    rid = req.get("id", number)
    op = req.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise UsageError(f"line {number}: unknown op {op!r} (known: {', '.join(OPS)})")
    args = req.get("args")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise UsageError(f"line {number}: args must be a JSON object")
    for key, value in args.items():
        check, what = _ARGS.get(key, (None, ""))
        if check is not None and not check(value):
            raise UsageError(f"line {number}: argument {key!r} must be {what}")
    return rid, op, args


def _dispatch(bench: Any, op: str, args: dict[str, Any]) -> dict[str, Any]:
    index_io = args.get("index_io", "utf-16")
    table: dict[str, Callable[[], dict[str, Any]]] = {
        "diag": lambda: bench.diag(args.get("files", [])),
        "def": lambda: bench.definition(args["selector"], index_io),
        "refs": lambda: bench.references(args["selector"], index_io),
        "hover": lambda: bench.hover(args["selector"], index_io),
        "symbols": lambda: bench.symbols(args["file"]),
        "step": lambda: (
            bench.step(args["edit"], confidence=float(args.get("confidence", 1.0))).bundle
        ),
    }
    if op not in table:
        raise UsageError(f"unknown op {op!r} (known: {', '.join(OPS)})")
    try:
        return table[op]()
    except KeyError as err:
        raise UsageError(f"op {op!r} needs the argument {err.args[0]!r}") from err


def parse_line(raw: bytes, number: int) -> tuple[Any, str, dict[str, Any]] | None:
    """One raw request line -> (id, op, args), None when blank; UsageError when bad."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"line {number}: not valid UTF-8 (byte {err.start})") from err
    if not line.strip():
        return None
    return check_request(safejson.loads(line, what=f"line {number}: not JSON"), number)


@click.command(name="batch")
@click.argument("requests", required=False, default="-")
@workspace_option
@timeout_option
@python_option
def batch_cmd(
    requests: str, workspace: Path | None, timeout: float, python_path: Path | None
) -> None:
    """Run REQUESTS (JSONL file, or '-' for stdin) through one warm session.

    Each line is {"id": any, "op": "diag|def|refs|hover|symbols|step", "args": {...}}
    (args: files, selector, index_io, file, edit, confidence). Each result is written as
    soon as it is ready: {"id", "exitCode", "bundle"} or {"id", "exitCode", "error"}.
    A failing request does not stop the others; the exit code is the first failure's.
    """
    from codeprm.cli.call import current, workbench, workspace_root

    call = current()
    source = call.input.buffer if requests == "-" else _open(requests)
    first_failure = 0
    with workbench(workspace_root(workspace), python_path, timeout) as bench:
        for number, raw in enumerate(source, 1):
            rid: Any = None
            try:
                parsed = parse_line(raw, number)
                if parsed is None:
                    continue
                rid, op, args = parsed
                result: dict[str, Any] = {
                    "id": rid,
                    "exitCode": 0,
                    "bundle": _dispatch(bench, op, args),
                }
            except CodeprmError as err:
                result = {
                    "id": rid if rid is not None else number,
                    "exitCode": err.exit_code,
                    "error": err.one_line(),
                }
                first_failure = first_failure or err.exit_code
            except Exception as err:  # a bug answers its own line; the others still run
                result = {
                    "id": rid if rid is not None else number,
                    "exitCode": 1,
                    "error": f"internal error: {type(err).__name__}: {err}",
                }
                first_failure = first_failure or 1
            call.out.write(json.dumps(result, sort_keys=True, ensure_ascii=False) + "\n")
            call.out.flush()
    if first_failure:
        raise click.exceptions.Exit(first_failure)


def _open(path: str) -> Any:
    from codeprm.cli.call import here

    try:
        return open(here(Path(path)), "rb")
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror or err}") from err
