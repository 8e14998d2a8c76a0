"""A trajectory's states measured in parallel on Ray actors (``codeprm score T.jsonl --ray``).

The states of a trajectory are known before any is measured (its start, then each step's
state after), and each step's reward is a difference of potentials of two consecutive
states. So the expensive part, measuring each state (the language server's diagnostics
of the covered files, and the execution facts when they are on), is split across actors:
contiguous runs of states, so that an actor's consecutive states differ by one step and
its warm server re-checks only what changed. The caller then scores the trajectory as
usual (``Workbench.score_trajectory(premeasure=...)``): every measurement is a lookup,
and the rewards, the guard's ledger, the PRM and the bundles are computed exactly as in
one process, so the bundle ids are the ones single-process scoring gives.

The workspace is read by each actor at the same path: a local Ray (the default), or a
cluster whose nodes share that path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import ray
except ImportError as err:  # pragma: no cover - an extra
    from codeprm.errors import UsageError

    raise UsageError(f"--ray needs Ray: pip install 'codeprm[ray]' ({err})") from err


class StateActor:
    """One Ray actor: a Workbench over the workspace, measuring the states it is given."""

    def __init__(
        self, root: str, python: str | None, timeout: float, exec_options: Mapping[str, Any]
    ) -> None:
        from codeprm.workbench import Workbench

        self.bench = Workbench(
            root=Path(root), python=Path(python) if python else None, timeout=timeout
        )
        self.engine = self.bench.engine(None, **dict(exec_options))
        self.engine.exec_memo = {}

    def measure(
        self,
        states: Sequence[Mapping[str, str]],
        lo: int,
        hi: int,
        covered: list[str],
        selection: Any,
    ) -> tuple[list[Any], dict[str, Any]]:
        """Diagnostics of states[lo:hi], and their execution facts by memo key."""
        located = []
        for texts in states[lo:hi]:
            located.append(self.engine.measure(texts, covered))
            if selection is not None:
                self.engine.run_exec(texts, selection)
        return located, dict(self.engine.exec_memo)

    def close(self) -> None:
        self.bench.close()


def runs(n: int, parts: int) -> list[tuple[int, int]]:
    """``n`` states cut into at most ``parts`` contiguous runs of near-equal length."""
    parts = max(1, min(parts, n))
    size, extra = divmod(n, parts)
    out, lo = [], 0
    for i in range(parts):
        hi = lo + size + (1 if i < extra else 0)
        out.append((lo, hi))
        lo = hi
    return out


@dataclass
class RayMeasure:
    """A ``Premeasure`` on Ray: ``actors`` StateActors over ``root``, started per call,
    each reserving ``num_cpus`` (less when the cluster has fewer CPUs than they ask for).

    ``address``: "auto" joins RAY_ADDRESS when it is set, else starts a local Ray for this
    call (shut down after it); anything else is the address of the cluster to join."""

    root: Path
    actors: int = 2
    address: str = "auto"
    python: Path | None = None
    timeout: float = 60.0
    exec_options: Mapping[str, Any] | None = None
    num_cpus: float = 1.0

    def __call__(
        self, states: list[Mapping[str, str]], covered: list[str], selection: Any
    ) -> tuple[list[Any], dict[str, Any]]:
        from codeprm.errors import UsageError

        if self.actors < 1:
            raise UsageError("--actors must be at least 1")
        owns = not ray.is_initialized()
        if owns:
            ray.init(
                address=None if self.address == "auto" else self.address,
                include_dashboard=False,
                configure_logging=False,
                log_to_driver=False,
            )
        handles: list[Any] = []
        try:
            cuts = runs(len(states), self.actors)
            # every actor must be placed, or its states are never measured: on a cluster
            # with fewer CPUs than actors ask for, they share them
            cpus = float(ray.cluster_resources().get("CPU", 0.0))
            share = min(self.num_cpus, cpus / len(cuts)) if cpus > 0 else 0.0
            remote = ray.remote(StateActor).options(  # type: ignore[attr-defined]
                num_cpus=share, max_restarts=0
            )
            shared = ray.put(states)
            handles = [
                remote.remote(
                    str(self.root),
                    str(self.python) if self.python else None,
                    self.timeout,
                    dict(self.exec_options or {}),
                )
                for _ in cuts
            ]
            answers = ray.get(
                [
                    h.measure.remote(shared, lo, hi, covered, selection)
                    for h, (lo, hi) in zip(handles, cuts, strict=True)
                ]
            )
        finally:
            for h in handles:
                # an actor that died has nothing left to close
                with contextlib.suppress(Exception):
                    ray.get(h.close.remote(), timeout=30)
                ray.kill(h)
            if owns:
                ray.shutdown()
        located = [loc for part, _ in answers for loc in part]
        facts: dict[str, Any] = {}
        for _, memo in answers:
            facts.update(memo)
        return located, facts
