"""Per-stage timings of a scored step, for the bundle's volatile ``meta`` and for metrics.

A step's work falls into stages: ``apply`` (parsing the edit, resolving it against the
texts, applying it in memory), ``diagnostics`` (the language server's pulls),
``exec`` (choosing and running tests and doctests), ``guard`` (the reward-hacking checks)
and ``prm`` (the learned model). Code marks its stage with ``timed(name)`` (a context
manager or decorator); the time is exclusive (a stage nested in another is counted once,
in the inner one) and accumulates per thread until ``take()`` hands it over, which the
step engine does when it builds a bundle (``meta.stagesMs``). ``reset()`` at the start of
a call drops what an earlier call on this thread left behind (one that raised before
making a bundle). Timings never enter a bundle id.
"""

from __future__ import annotations

import threading
import time
from contextlib import ContextDecorator
from typing import Any

STAGES = ("apply", "diagnostics", "exec", "guard", "prm")

_local = threading.local()


def _state() -> tuple[dict[str, float], list[list[Any]]]:
    acc = getattr(_local, "acc", None)
    if acc is None:
        acc = _local.acc = {}
        _local.stack = []
    return acc, _local.stack


class timed(ContextDecorator):  # lower case: used like a function, ``with timed("prm"):``
    """Count the time inside as ``stage`` (less the time of stages nested inside)."""

    def __init__(self, stage: str) -> None:
        self.stage = stage

    def __enter__(self) -> timed:
        _, stack = _state()
        stack.append([self.stage, time.perf_counter(), 0.0])
        return self

    def __exit__(self, *exc: object) -> None:
        acc, stack = _state()
        if not stack:  # reset() ran inside this stage: nothing to close
            return
        stage, began, nested = stack.pop()
        spent = time.perf_counter() - began
        acc[stage] = acc.get(stage, 0.0) + spent - nested
        if stack:
            stack[-1][2] += spent


def take() -> dict[str, float]:
    """The seconds per stage since the last ``take`` or ``reset`` on this thread, and
    start again (stages still open keep counting into the next)."""
    acc, _ = _state()
    _local.acc = {}
    return acc


def reset() -> None:
    """Forget what this thread accumulated (and any stage left open by an exception)."""
    _local.acc = {}
    _local.stack = []


def as_ms(seconds: dict[str, float]) -> dict[str, float]:
    return {k: round(v * 1000, 3) for k, v in sorted(seconds.items())}
