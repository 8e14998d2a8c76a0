"""One CLI invocation's context, and the Workbench a command uses.

``main.run`` makes a ``Call`` per invocation and hands it to click as the context's
``obj``: the daemon's pool of warm Workbenches (when the daemon runs the command), the
invocation's trace sink (``--trace-file``, or a collector when ``trace replay`` re-runs
it), the recorded frames to replay, the error line the invocation printed, and where the
invocation runs: its working directory and its stdin, stdout and stderr. Nothing here
outlives the invocation.

Commands never read the process's working directory or streams directly: relative
paths go through ``Call.path`` (``here()``), input through ``Call.input``, output through
``echo``, ``Call.out`` / ``Call.err`` and the rich consoles made on them. In-process
these are the process's own (a bare ``Call``); the daemon and ``trace replay`` give each
call its client's directory and buffers, so calls never touch ``os.chdir`` or
``sys.stdout`` and calls from different directories can run side by side.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from codeprm.bundles.trace import TraceSink
    from codeprm.workbench import Workbench, WorkbenchPool


@dataclass
class Call:
    """What one invocation runs with (click's ``obj``)."""

    #: the daemon's warm Workbenches; None: a fresh Workbench per command
    pool: WorkbenchPool | None = None
    #: where the invocation's frames, workspace and bundles go (``--trace-file``, trace replay)
    trace: TraceSink | None = None
    #: recorded frames the session answers from instead of a server (trace replay)
    replay_frames: tuple[tuple[str, str], ...] | None = None
    #: the one error line the invocation printed (the trace's end record keeps it)
    error: str | None = None
    #: ``--trace-key KEYFILE``: the key that chains a recorded trace, or verifies replays
    key_file: Path | None = None
    #: the environment CODEPRM_TRACE_KEY is read from (the client's, in a daemon)
    env: Mapping[str, str] | None = None
    #: the directory relative paths name (the client's, in a daemon; the recorded one, in
    #: trace replay); None: the process's
    cwd: Path | None = None
    #: the invocation's streams (text, with a binary ``buffer``); None: the process's
    stdin: IO[str] | None = None
    stdout: IO[str] | None = None
    stderr: IO[str] | None = None

    def trace_key(self) -> bytes | None:
        from codeprm.bundles import trace

        return trace.key(self.key_file, self.env)

    def directory(self) -> Path:
        """The invocation's working directory."""
        return self.cwd if self.cwd is not None else Path.cwd()

    def path(self, given: Path) -> Path:
        """A path named on the command line, as this invocation means it.

        A relative path is kept as given (messages name it as typed) when the invocation's
        directory is the process's, and is joined to the invocation's directory otherwise.
        """
        if self.cwd is None or given.is_absolute() or str(self.cwd) == _process_cwd():
            return given
        return self.cwd / given

    @property
    def input(self) -> IO[str]:
        return self.stdin if self.stdin is not None else sys.stdin

    @property
    def out(self) -> IO[str]:
        return self.stdout if self.stdout is not None else sys.stdout

    @property
    def err(self) -> IO[str]:
        return self.stderr if self.stderr is not None else sys.stderr


def _process_cwd() -> str | None:
    try:
        return os.getcwd()
    except OSError:  # removed under us: nothing is relative to it
        return None


def current() -> Call:
    """The Call of the invocation running (a bare one outside ``main.run``)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, Call) else Call()


class CallPath(click.Path):
    """``click.Path`` relative to the running invocation's directory (``Call.path``): the
    checks (``exists`` ...) and the value are the path the invocation means."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str | Path) and value != "-":
            meant = current().path(Path(value))
            if meant != Path(value):
                value = os.fspath(meant)
        return super().convert(value, param, ctx)


def here(given: Path) -> Path:
    """``given`` (a path on the command line) relative to the running invocation's directory."""
    return current().path(given)


def workspace_root(workspace: Path | None, start: Path = Path(".")) -> Path:
    """The workspace a command works in: ``-w``, else the git top level holding ``start``
    (relative to the invocation's directory), else that directory (``files.find_root``)."""
    from codeprm.analysis.files import find_root

    return find_root(start, workspace, current().cwd)


def echo(message: Any = "", *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` to the running invocation's stdout (``err``: stderr)."""
    call = current()
    click.echo(message, file=call.stderr if err else call.stdout, nl=nl, err=err)


def emit_bytes(data: bytes) -> None:
    """Raw bytes on the invocation's stdout (canonical JSON), flushed."""
    out = current().out
    out.buffer.write(data)
    out.flush()


def console(*, stderr: bool = False, **options: Any) -> Any:
    """A rich Console writing to the invocation's stdout (``stderr``: its stderr)."""
    from rich.console import Console

    call = current()
    return Console(file=call.stderr if stderr else call.stdout, stderr=stderr, **options)


@contextmanager
def workbench(
    root: Path, python: Path | None = None, timeout: float = 60.0, *, server: bool = True
) -> Iterator[Workbench]:
    """The Workbench a command uses: the daemon's warm one, else a fresh one closed after.

    A traced or replayed invocation always gets a fresh one: a trace must hold every
    frame from the server's start. ``server=False`` (locate) skips re-syncing a warm
    session the command will not ask.
    """
    from codeprm.workbench import Workbench

    call = current()
    if call.pool is not None and call.trace is None and call.replay_frames is None:
        bench = call.pool.get(root, python, timeout)
        with bench.call(cwd=call.cwd, refresh=server):
            yield bench
        return
    with Workbench(
        root=root,
        python=python,
        timeout=timeout,
        trace=call.trace,
        replay_frames=call.replay_frames,
        cwd=call.cwd,
    ) as bench:
        yield bench
