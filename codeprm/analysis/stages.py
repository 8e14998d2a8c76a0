"""Per-stage timings of a scored step, for the bundle's volatile ``meta`` and for metrics.

A step's work falls into stages: ``apply`` (parsing the edit, resolving it against the
texts, applying it in memory), ``diagnostics`` (the language server's pulls),
``exec`` (choosing and running tests and doctests), ``guard`` (the reward-hacking checks)
and ``prm`` (the learned model). Each step engine owns a ``StageClock`` (an engine scores
on one thread at a time, and a Workbench makes one per call): code marks its stage with
``clock.timed(name)``, or a method of the engine with ``@stage(name)``. The time is
exclusive (a stage nested in another is counted once, in the inner one) and accumulates
until ``take()`` hands it over, which the engine does when it builds a bundle
(``meta.stagesMs``). Timings never enter a bundle id.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

STAGES = ("apply", "diagnostics", "exec", "guard", "prm")

F = TypeVar("F", bound=Callable[..., Any])


class StageClock:
    """Seconds per stage since the last ``take``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._open: list[list[Any]] = []  # [stage, began, seconds of the stages nested in it]

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Count the time inside as ``stage`` (less the time of stages nested inside)."""
        frame: list[Any] = [stage, time.perf_counter(), 0.0]
        self._open.append(frame)
        try:
            yield
        finally:
            spent = time.perf_counter() - frame[1]
            self._open.pop()
            self.seconds[stage] = self.seconds.get(stage, 0.0) + spent - frame[2]
            if self._open:
                self._open[-1][2] += spent

    def take(self) -> dict[str, float]:
        """The seconds per stage so far, and start again (open stages keep counting)."""
        out, self.seconds = self.seconds, {}
        return out


def stage(name: str) -> Callable[[F], F]:
    """Time a method of an object with a ``clock`` (a StageClock) as stage ``name``."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            with self.clock.timed(name):
                return method(self, *args, **kwargs)

        return timed  # type: ignore[return-value]

    return wrap


def as_ms(seconds: dict[str, float]) -> dict[str, float]:
    return {k: round(v * 1000, 3) for k, v in sorted(seconds.items())}
