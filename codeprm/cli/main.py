"""The click group, lazy command loading, and the one place errors become exit codes.

Commands live in their own modules and are imported only when invoked, so that
``codeprm --help`` and the deterministic commands start fast and never import torch.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from codeprm import __version__
from codeprm.cli.call import Call
from codeprm.errors import EXIT_CODES, CodeprmError

if TYPE_CHECKING:
    from codeprm.workbench import WorkbenchPool

#: command name -> "module:attribute". One line per command; the module is imported lazily.
COMMANDS: dict[str, str] = {
    "def": "codeprm.cli.nav:definition_cmd",
    "refs": "codeprm.cli.nav:references_cmd",
    "hover": "codeprm.cli.nav:hover_cmd",
    "symbols": "codeprm.cli.nav:symbols_cmd",
    "diag": "codeprm.cli.nav:diag_cmd",
    "doctor": "codeprm.cli.doctor:doctor_cmd",
    "schema": "codeprm.cli.schema:schema_group",
    "prm": "codeprm.cli.prm:prm_group",
    "step": "codeprm.cli.step:step_cmd",
    "score": "codeprm.cli.score:score_cmd",
    "replay": "codeprm.cli.rescore:rescore_cmd",
    "trace": "codeprm.cli.trace:trace_group",
    "batch": "codeprm.cli.batch:batch_cmd",
    "rename": "codeprm.cli.edit:rename_cmd",
    "actions": "codeprm.cli.edit:actions_cmd",
    "apply": "codeprm.cli.edit:apply_cmd",
    "rank": "codeprm.cli.rank:rank_cmd",
    "daemon": "codeprm.cli.daemon:daemon_group",
    "trajectory": "codeprm.cli.trajectory:trajectory_group",
    "agent": "codeprm.cli.agent:agent_group",
    "locate": "codeprm.cli.locate:locate_cmd",
    "mcp": "codeprm.cli.mcp:mcp_cmd",
    "hook": "codeprm.cli.hook:hook_group",
    "serve": "codeprm.cli.serve:serve_cmd",
    "servers": "codeprm.cli.servers:servers_group",
}

_EPILOG = (
    "Every command also takes --trace-file FILE: append a replayable trace of the\n"
    "invocation (JSON-RPC frames, bundles) to FILE; see 'codeprm trace'. --trace-key\n"
    "KEYFILE (or CODEPRM_TRACE_KEY) chains it with HMAC-SHA256 so that edits are detectable.\n"
    "\nExit codes:\n\n\b\n" + "\n".join(f"{c:>3}  {m}" for c, m in EXIT_CODES.items())
)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)


@click.group(
    cls=LazyGroup, epilog=_EPILOG, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="codeprm")
def cli() -> None:
    """codeprm: machine-checked, step-by-step rewards for coding agents' edits."""


def _fail(message: str, code: int, call: Call) -> int:
    line = " ".join(message.split())
    call.error = line
    click.echo(f"codeprm: error: {line}", file=call.stderr, err=True)
    return code


def split_trace(argv: list[str]) -> tuple[list[str], str | None, str | None]:
    """``--trace-file FILE`` and ``--trace-key KEYFILE`` are accepted on every command: take them
    out before click parses."""
    args, options = _split_global(argv, ("--trace-file", "--trace-key"))
    return args, options.get("--trace-file"), options.get("--trace-key")


def _split_global(argv: list[str], names: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """Take the global options ``names`` (each with a value) out of argv, up to ``--``."""
    out: list[str] = []
    found: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out.extend(argv[i:])
            break
        name = next((n for n in names if arg == n or arg.startswith(n + "=")), None)
        if name is not None and arg == name and i + 1 < len(argv):
            found[name], i = argv[i + 1], i + 2
            continue
        if name is not None and arg != name:
            found[name], i = arg.split("=", 1)[1], i + 1
            continue
        out.append(arg)
        i += 1
    return out, found


def run(
    argv: list[str] | None = None,
    *,
    pool: WorkbenchPool | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    call: Call | None = None,
) -> int:
    """Run the CLI (recording a trace when asked) and return its exit code.

    ``pool``: the daemon's warm Workbenches; ``env``: where CODEPRM_TRACE_KEY is read
    (the client's, for a daemon); ``cwd``: the directory the trace records (default: the
    call's); ``call``: the invocation's context (its directory and streams), which
    ``pool`` and ``env`` are set on.
    """
    args, trace_file, key_file = split_trace(list(sys.argv[1:] if argv is None else argv))
    call = call if call is not None else Call()
    call.pool, call.env = pool, env
    if trace_file is None and key_file is None:
        return run_call(args, call)
    from pathlib import Path

    from codeprm.bundles import trace

    try:
        if key_file is not None:
            call.key_file = call.path(Path(key_file))
        secret = call.trace_key()  # an unreadable or empty key file fails here, before the command
        if trace_file is None:
            return run_call(args, call)
        if cwd is None and call.cwd is not None:
            cwd = str(call.cwd)
        recorder = trace.Recorder(call.path(Path(trace_file)), args, secret, cwd)
    except CodeprmError as err:
        return _fail(err.one_line(), err.exit_code, call)
    call.trace = recorder
    code = 1
    try:
        code = run_call(args, call)
    finally:
        recorder.end(code, call.error if code else None)
    return code


def run_call(argv: list[str], call: Call) -> int:
    """Run the CLI and return its exit code; never lets a traceback reach the user."""
    try:
        rv: Any = cli.main(args=argv, prog_name="codeprm", standalone_mode=False, obj=call)
    except CodeprmError as err:
        return _fail(err.one_line(), err.exit_code, call)
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.format_message(), file=call.stdout)
        return 2
    except click.UsageError as err:
        hint = ""
        if err.ctx is not None:
            hint = f" (see '{err.ctx.command_path} --help')"
        return _fail(err.format_message() + hint, 2, call)
    except click.ClickException as err:
        return _fail(err.format_message(), 2, call)
    except click.exceptions.Exit as err:
        return int(err.exit_code)
    except click.exceptions.Abort:
        return _fail("aborted", 73, call)
    except KeyboardInterrupt:
        return _fail("cancelled", 73, call)
    except BrokenPipeError:
        # stdout closed early (| head): not an error of ours
        return 0
    except Exception as err:  # the last line of defence: one line, not a traceback
        if os.environ.get("CODEPRM_DEBUG"):
            raise
        return _fail(
            f"internal error: {type(err).__name__}: {err} (set CODEPRM_DEBUG=1 for a traceback)",
            1,
            call,
        )
    return int(rv) if isinstance(rv, int) else 0


def serve_request(payload: Mapping[str, Any], pool: WorkbenchPool) -> dict[str, Any]:
    """One daemon request: the client's command line, run against the daemon's warm pool.

    The command runs as it would in the client's process: in its working directory,
    with its stdin and its trace key (a traced call records its own trace, on a fresh
    Workbench). The call's ``Call`` carries the directory and streams (buffers whose
    contents the reply carries); the process's working directory and ``sys`` streams are
    never touched, so calls from different directories may run side by side.
    """
    import io
    from pathlib import Path

    argv = [str(a) for a in payload.get("argv") or []]
    env = {"CODEPRM_TRACE_KEY": str(payload["traceKey"])} if payload.get("traceKey") else {}
    cwd = Path(str(payload["cwd"])) if payload.get("cwd") else None
    stdin = str(payload.get("stdin") or "").encode("utf-8", "surrogateescape")
    call = Call(
        cwd=cwd,
        stdin=io.TextIOWrapper(
            io.BytesIO(stdin), encoding="utf-8", errors="surrogateescape", newline=""
        ),
        stdout=io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True),
        stderr=io.StringIO(),
    )
    assert call.stdout is not None and call.stderr is not None
    code = run(argv, pool=pool, env=env, call=call)
    call.stdout.flush()
    data = call.stdout.buffer.getvalue()  # type: ignore[attr-defined]
    return {
        "exit": code,
        "stdout": data.decode("utf-8", "surrogateescape"),
        "stderr": call.stderr.getvalue(),  # type: ignore[attr-defined]
    }


def main() -> None:
    sys.exit(run())
