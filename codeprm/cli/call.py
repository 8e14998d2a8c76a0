"""One CLI invocation's context, and the Workbench a command uses.

``main.run`` makes a ``Call`` per invocation and hands it to click as the context's
``obj``: the daemon's pool of warm Workbenches (when the daemon runs the command), the
invocation's trace sink (``--trace-file``, or a collector when ``trace replay`` re-runs
it), the recorded frames to replay, and the error line the invocation printed. Nothing
here outlives the invocation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

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

    def trace_key(self) -> bytes | None:
        from codeprm.bundles import trace

        return trace.key(self.key_file, self.env)


def current() -> Call:
    """The Call of the invocation running (a bare one outside ``main.run``)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return obj if isinstance(obj, Call) else Call()


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
        if server:
            bench.refresh()
        yield bench
        return
    with Workbench(
        root=root,
        python=python,
        timeout=timeout,
        trace=call.trace,
        replay_frames=call.replay_frames,
    ) as bench:
        yield bench
