"""Scoring a whole trajectory (a commit range, an imported agent run) with one warm session.

Every state of the trajectory is measured once, over one covered set (the union of
each step's edited files and their importers), so consecutive states are comparable
and the rewards telescope exactly to Phi(end) - Phi(start). Bundles are handed to the
caller as they are produced: a long run never loses the steps already scored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeprm.analysis.step import Safety, StepEngine, union_selection
from codeprm.errors import ContentModifiedError, WriteDeniedError
from codeprm.rewards import Facts
from codeprm.rewards.guard import Ledger
from codeprm.rewards.identity import counts
from codeprm.workspace.edits import WorkspaceChange, apply_to_texts
from codeprm.workspace.jail import Jail


@dataclass(frozen=True)
class TrajectoryStep:
    """One step to score: a change from the previous state, and how it was located."""

    change: WorkspaceChange
    confidence: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Planned:
    index: int
    before: Mapping[str, str]
    after: Mapping[str, str]
    change: WorkspaceChange | None
    safety: Safety
    confidence: float
    meta: dict[str, Any]


def plan(root: Path, base: Mapping[str, str], steps: Iterable[TrajectoryStep]) -> list[Planned]:
    """Walk the states in memory; a step that escapes the jail or does not apply is refused."""
    jail = Jail.at(root)
    state: dict[str, str] = dict(base)
    out = []
    for index, step in enumerate(steps):
        checks, reasons = {"jail": True, "cleanApply": True}, {}
        after: dict[str, str] = state
        change: WorkspaceChange | None = step.change
        try:
            for path in step.change.paths:
                jail.normalise(path)
        except WriteDeniedError as err:
            checks["jail"], reasons["jail"], change = False, err.one_line(), None
        if change is not None:
            try:
                after = apply_to_texts(state, change)
            except ContentModifiedError as err:
                checks["cleanApply"], reasons["cleanApply"] = False, err.one_line()
        out.append(
            Planned(
                index,
                state,
                after,
                change,
                Safety(checks, reasons),
                step.confidence,
                dict(step.meta),
            )
        )
        state = after
    return out


def load_steps(path: Path) -> list[TrajectoryStep]:
    """The steps of a codeprm trajectory JSONL file, each with its source recorded."""
    from codeprm.trajectories import read_jsonl

    return [
        TrajectoryStep(
            s.change, s.confidence, {"source": s.source, **({"id": s.id} if s.id else {})}
        )
        for s in read_jsonl(path)
    ]


def seed_base(disk: Mapping[str, str], steps: Iterable[TrajectoryStep]) -> dict[str, str]:
    """The start state of a trajectory: the disk, with each file as the trajectory first saw it."""
    base, seen = dict(disk), set()
    for step in steps:
        for edit in step.change.edits:
            if edit.path in seen:
                continue
            seen.add(edit.path)
            if edit.old_text is None:
                base.pop(edit.path, None)  # created by the trajectory: absent at its start
            else:
                base[edit.path] = edit.old_text
    return base


def summary(bundles: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``codeprm score --json``: the total and one row per step."""
    total = round(sum(b["processReward"]["total"] for b in bundles), 12)
    return {
        "total": total,
        "steps": [
            {
                "index": i,
                "bundleId": b["bundleId"],
                "reward": b["processReward"]["total"],
                "introduced": len(b["facts"]["introduced"]),
                "fixed": len(b["facts"]["fixed"]),
                "safe": b["facts"]["safety"]["passed"],
                **{k: v for k, v in b["meta"].items() if k in ("commit", "subject")},
                "seconds": round(b["meta"].get("durationMs", 0.0) / 1000, 3),
            }
            for i, b in enumerate(bundles)
        ],
    }


def check_gates(
    bundles: Sequence[Mapping[str, Any]],
    *,
    fail_under: float | None = None,
    fail_on_new_errors: bool = False,
) -> None:
    """CI gates over scored steps: 78 when a step introduced an error, 77 below ``fail_under``."""
    from codeprm.errors import NewErrorsGateError, RewardGateError

    total = round(sum(b["processReward"]["total"] for b in bundles), 12)
    if fail_on_new_errors and any(
        d["severity"] == "error" for b in bundles for d in b["facts"]["introduced"]
    ):
        raise NewErrorsGateError("a step introduced new errors")
    if fail_under is not None and total < fail_under:
        raise RewardGateError(f"total reward {total:g} is below --fail-under {fail_under:g}")


def scope(
    engine: StepEngine, planned: Sequence[Planned], cover: Iterable[str] | None = None
) -> tuple[list[str], Any]:
    """What is measured in every state of a trajectory: the covered files (``cover``, or
    the union of each step's edited files and their importers) and the execution
    selection (one for every state, so that execution facts telescope too; None: none)."""
    if cover is None:
        union: set[str] = set()
        for p in planned:
            union.update(engine.covered(p.before, p.after, p.change.paths if p.change else ()))
        cover = union
    selection = (
        union_selection(
            engine.exec_selection(p.before, p.after, p.change.paths)
            for p in planned
            if p.change is not None and p.safety.passed
        )
        if engine.exec_mode != "none"
        else None
    )
    return sorted(set(cover)), selection


def states(base: Mapping[str, str], planned: Sequence[Planned]) -> list[Mapping[str, str]]:
    """Every state a trajectory's scoring measures, in order: its start, then each step's
    state after (a refused step's is the state before it)."""
    return [base, *(p.after for p in planned)]


def score(
    engine: StepEngine,
    base: Mapping[str, str],
    steps: Iterable[TrajectoryStep],
    *,
    on_bundle: Callable[[dict[str, Any]], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    operation: str = "score",
    cover: Iterable[str] | None = None,
    on_state: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Score every step; returns the step bundles in order (and streams them to on_bundle).

    ``cover`` fixes the measured files (a commit range measures every Python file it
    tracks); by default it is the union of each step's edited files and their importers.
    ``on_state(k)`` runs before state k is measured (0 the start, k after step k): a
    scratch checkout moves there so the server's disk view matches the state.
    """
    planned = plan(engine.root, base, steps)
    covered, selection = scope(engine, planned, cover)
    if on_state is not None:
        on_state(0)
    located = engine.measure(base, covered)
    c = counts(located)
    exec_facts = engine.run_exec(base, selection) if selection is not None else None
    facts = Facts(
        c["error"],
        c["warning"],
        True,
        1.0,
        failing_tests=exec_facts.failed if exec_facts is not None else None,
    )
    bundles = []
    ledger = Ledger()  # what the trajectory hid so far, and what its steps introduced
    for p in planned:
        started = time.perf_counter()
        if on_state is not None:
            on_state(p.index + 1)
        outcome = engine.step(
            p.before,
            p.after,
            p.change,
            located,
            facts,
            safety=p.safety,
            confidence=p.confidence,
            cover=covered,
            request={"operation": operation, "params": {"stepIndex": p.index}, "meta": p.meta},
            started=started,
            ledger=ledger,
            exec_selection=selection,
            exec_before=exec_facts,
        )
        located, facts = outcome.located, outcome.facts
        if selection is not None:
            exec_facts = engine.run_exec(
                outcome.texts, selection
            )  # measured by the step: a memo hit
        bundles.append(outcome.bundle)
        if on_bundle is not None:
            on_bundle(outcome.bundle)
        if on_progress is not None:
            on_progress(p.index + 1, len(planned))
    return bundles
