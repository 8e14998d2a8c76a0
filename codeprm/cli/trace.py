"""``codeprm trace list|show|replay``: inspect recorded invocations and replay them offline."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import click

from codeprm.cli.call import CallPath, echo, emit_bytes
from codeprm.errors import NotFoundError, UsageError

_filters = [
    click.option(
        "--operation",
        default=None,
        help="Only invocations of this operation (diag, step, score ...).",
    ),
    click.option(
        "--selector",
        default=None,
        help="Only invocations whose last bundle asked about this selector.",
    ),
    click.option("--status", type=click.Choice(["ok", "error", "incomplete"]), default=None),
    click.option("--exit-code", type=int, default=None),
]


def _with_filters(func: Any) -> Any:
    for opt in reversed(_filters):
        func = opt(func)
    return func


#: record type -> the fields trace reading uses, with the JSON type each must have
_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "begin": {"argv": (list,), "cwd": (str,)},
    "frame": {"dir": (str,), "body": (str,)},
    "bundle": {"bundle": (dict,)},
    "workspace": {"root": (str,), "digest": (str,)},
    "end": {"exitCode": (int, type(None))},
}


def check_trace_file(file: Path) -> None:
    """Every record bounded I-JSON of the right shape (exit 2), before trace.read sees it.

    (A trace that is well-formed but edited is still a replay mismatch, 76, found later.)
    """
    from codeprm import safeio, safejson

    data = safeio.read_bytes(file, limit=1 << 40)  # never blocks on a FIFO
    begun: set[str] = set()
    first_line: dict[str, int] = {}
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{file}:{number}: not a trace record"
        record = safejson.loads(line, what=where)
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("inv"), str)
            or not isinstance(record.get("type"), str)
        ):
            raise UsageError(f"{where}: a record is an object with a string inv and type")
        if isinstance(record.get("seq"), bool) or not isinstance(record.get("seq"), int):
            raise UsageError(f"{where}: seq must be an integer")
        for key, types in _FIELDS.get(record["type"], {}).items():
            value = record.get(key)
            if not isinstance(value, types) or isinstance(value, bool):
                raise UsageError(
                    f"{where}: {record['type']} record field {key!r} has the wrong type"
                )
        argv = record.get("argv")
        if record["type"] == "begin" and not all(isinstance(a, str) for a in argv):
            raise UsageError(f"{where}: argv must be an array of strings")
        first_line.setdefault(record["inv"], number)
        if record["type"] == "begin":
            begun.add(record["inv"])
    for inv, number in first_line.items():
        if inv not in begun:
            from codeprm.errors import ReplayMismatchError

            # a well-formed record whose invocation never began: an edited inv or begin type
            raise ReplayMismatchError(
                f"{file}:{number}: invocation {inv[:40]} has no begin record (the trace was edited)"
            )


def _selected(
    file: Path,
    operation: str | None,
    selector: str | None,
    status: str | None,
    exit_code: int | None,
) -> list[Any]:
    from codeprm.bundles import trace

    check_trace_file(file)
    return list(
        trace.select(
            trace.read(file),
            operation=operation,
            selector=selector,
            status=status,
            exit_code=exit_code,
        )
    )


@click.group(name="trace")
def trace_group() -> None:
    """Traces written with --trace-file: list, show and replay invocations."""


@trace_group.command(name="list")
@click.argument("file", type=CallPath(dir_okay=False, path_type=Path))
@_with_filters
@click.option("--json", "as_json", is_flag=True)
def list_cmd(
    file: Path,
    operation: str | None,
    selector: str | None,
    status: str | None,
    exit_code: int | None,
    as_json: bool,
) -> None:
    """One line per recorded invocation of FILE."""
    for inv in _selected(file, operation, selector, status, exit_code):
        s = inv.summary()
        if as_json:
            echo(json.dumps(s, sort_keys=True))
        else:
            echo(
                f"{s['inv']}  {s['status']:<10} exit {s['exitCode']!s:<4} "
                f"{s['operation'] or '-':<8} bundles {s['bundles']:<3} frames "
                f"{s['frames']:<5} {' '.join(s['argv'])}"
            )


@trace_group.command(name="show")
@click.argument("file", type=CallPath(dir_okay=False, path_type=Path))
@click.argument("inv", required=False)
@_with_filters
@click.option("--frames", is_flag=True, help="Also print every JSON-RPC frame.")
def show_cmd(
    file: Path,
    inv: str | None,
    operation: str | None,
    selector: str | None,
    status: str | None,
    exit_code: int | None,
    frames: bool,
) -> None:
    """The bundles (and with --frames the JSON-RPC frames) of the selected invocations."""
    from codeprm.bundles import encode

    chosen = [
        i
        for i in _selected(file, operation, selector, status, exit_code)
        if inv is None or i.inv.startswith(inv)
    ]
    if not chosen:
        raise NotFoundError(f"no invocation in {file} matches")
    for i in chosen:
        echo(json.dumps(i.summary(), sort_keys=True))
        for direction, body in i.frames if frames else []:
            echo(f"{'->' if direction == 'send' else '<-'} {body}")
        for bundle in i.bundles:
            emit_bytes(encode(bundle) + b"\n")


def _rerun(
    argv: list[str], collector: Any, frames: tuple[tuple[str, str], ...], cwd: str
) -> tuple[int, str | None]:
    """Run a recorded command line again, over a Workbench answering from ``frames``.

    Its output is not ours to print: its stdout and stderr are buffers dropped after, and
    relative paths name files in the directory it was recorded in (the call's directory:
    the process's is never changed).
    """
    from codeprm.cli.call import Call
    from codeprm.cli.main import run_call

    call = Call(
        trace=collector,
        replay_frames=frames,
        cwd=Path(cwd),
        stdout=io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True),
        stderr=io.StringIO(),
    )
    code = run_call(argv, call)
    return code, call.error


@trace_group.command(name="replay")
@click.argument("file", type=CallPath(dir_okay=False, path_type=Path))
@click.argument("inv", required=False)
@_with_filters
@click.option(
    "--out",
    "out_file",
    type=CallPath(dir_okay=False, path_type=Path),
    help="Write the regenerated bundles (JSONL).",
)
def replay_cmd(
    file: Path,
    inv: str | None,
    operation: str | None,
    selector: str | None,
    status: str | None,
    exit_code: int | None,
    out_file: Path | None,
) -> None:
    """Regenerate the bundles of recorded invocations offline, with no server.

    Exits 76 when the trace was modified, the workspace changed since it was traced, or
    a regenerated bundle or the end record differs from the recorded one. The plain
    sha256 chain is integrity only (anyone can recompute it); traces recorded with
    --trace-key KEYFILE (or CODEPRM_TRACE_KEY) are verified with the same key, and a
    trace that is not keyed is then refused.
    """
    from codeprm.analysis.tracereplay import replay_invocation
    from codeprm.bundles import canonical_bytes, trace
    from codeprm.cli.call import current

    secret = current().trace_key()
    chosen = [
        i
        for i in _selected(file, operation, selector, status, exit_code)
        if inv is None or i.inv.startswith(inv)
    ]
    if not chosen:
        raise NotFoundError(f"no invocation in {file} matches")
    regenerated: list[bytes] = []
    for i in chosen:
        bundles = replay_invocation(i, _rerun, secret)
        regenerated.extend(canonical_bytes(b) + b"\n" for b in bundles)
        chain = (
            "keyed chain verified"
            if i.chain == trace.KEYED
            else "integrity-only chain: not proof against forgery, use --trace-key"
        )
        echo(f"{i.inv}: {len(bundles)} bundle(s) identical ({' '.join(i.argv)}) [{chain}]")
    if out_file is not None:
        out_file.write_bytes(b"".join(regenerated))
