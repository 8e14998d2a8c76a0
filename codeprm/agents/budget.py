"""Bounding a call in time: run it on its own thread, cancel it when it runs past its budget.

Used by the daemon (one request) and the MCP server (one tool call) so that a request
that hangs (a pathological diff, a runaway loop) cannot hold the workspace forever.
Cancelling raises ``CancelledError`` inside the worker thread (``PyThreadState_SetAsyncExc``):
Python code stops at its next bytecode and unwinds through its ``finally`` blocks, releasing
its locks. A worker stuck inside one C call cannot be interrupted; ``run`` then gives up on
it after ``grace`` seconds and reports it as ``stuck`` so the caller can retire.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from codeprm.errors import CancelledError

T = TypeVar("T")


class BudgetExceeded(CancelledError):
    """Raised inside a worker that ran past its budget, and to whoever waited for it."""

    default = "the call ran past its time budget and was cancelled"

    def __init__(self, message: str | None = None) -> None:  # raised by class, with no arguments
        super().__init__(message or self.default)


@dataclass
class Outcome(Generic[T]):
    value: T | None = None
    error: BaseException | None = None
    stuck: bool = False  # still running after the cancellation and the grace period


#: seconds a cancelled call may take to unwind (a subprocess it waits on is killed first)
GRACE = 5.0


def run(func: Callable[[], T], budget: float, what: str, grace: float = GRACE) -> Outcome[T]:
    """``func()`` on a worker thread, waited for ``budget`` seconds, then cancelled."""
    outcome: Outcome[T] = Outcome()
    done = threading.Event()

    def work() -> None:
        try:
            outcome.value = func()
        except BaseException as err:  # handed to the waiting thread
            outcome.error = err
        finally:
            done.set()

    worker = threading.Thread(target=work, name=f"codeprm-{what}", daemon=True)
    worker.start()
    if done.wait(budget):
        return outcome
    message = f"{what} ran past its time budget of {budget:g}s and was cancelled"
    interrupt(worker, type("BudgetExceeded", (BudgetExceeded,), {"default": message}))
    if not done.wait(grace):
        outcome.stuck = True
        outcome.error = BudgetExceeded(
            f"{what} ran past its time budget of {budget:g}s and could not be cancelled"
        )
    return outcome


def interrupt(thread: threading.Thread, exc: type[BaseException]) -> bool:
    """Raise ``exc`` in ``thread`` at its next bytecode; False when the thread is gone."""
    if thread.ident is None or not thread.is_alive():
        return False
    return (
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(exc)
        )
        == 1
    )
