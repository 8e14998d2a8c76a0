"""The learned combiner: the weights of the reward's components, fitted on validation bugs. Pure.

A candidate edit of a task (a real bug: the no-op, the developer's fix, wrong fixes, broken
edits, all from the same start) is described by the changes its step makes to each
component, counted from the start state:

    dE  errors removed (hidden ones count as present: potential-v2's E + H_E)
    dW  warnings removed (W + H_W)
    dX  failing selected tests removed (execution facts; 0 when none ran)
    dV  the learned potential's change (``analysis.potential``)

and the combined reward for weights (a, a_w, x, w) is the one ``rewards.functional`` and
``rewards.combined`` compute for such a step (safety and confidence do not move between
candidates, so b and g keep their defaults):

    r = a*dE + a_w*dW + x*dX + w/4*dV,   at most 0 when the guard caught the step.

A no-op has every delta 0, so it earns exactly 0 whatever the weights: there is no
intercept, and every weight is non-negative.

``fit`` is the documented, deterministic procedure: every point of a fixed grid (a fixed at
its default 0.5, which sets the reward's scale; the others relative to it) is scored on the
validation tasks by the mean expected reciprocal rank of the fix (ties broken uniformly at
random, in expectation), then by pairwise accuracy (the fix strictly above another
candidate: 1, a tie: 1/2), then by the fewest tasks where the no-op scores at least the fix;
among equals the point closest to the built-in defaults wins (distance: the sum over
weights of |log2((v + 1/64) / (default + 1/64))|), so a weight the validation data cannot
see (warnings, when no fix touches one) keeps its prior instead of dropping to 0; then
the first in grid order.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from codeprm.errors import UsageError
from codeprm.rewards.combined import SCALE
from codeprm.rewards.functional import Weights

COMBINER_VERSION = 1
FEATURES = ("dE", "dW", "dX", "dV")

#: The grid ``fit`` searches (a is fixed: ranking is invariant to a common scale).
GRID: Mapping[str, tuple[float, ...]] = {
    "a": (0.5,),
    "a_w": (0.0, 0.05, 0.1, 0.25, 0.5),
    "x": (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0),
    "w": (0.0, 0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0),
}


@dataclass(frozen=True)
class Candidate:
    """One candidate of a task: its component deltas, whether the guard capped it, its label."""

    id: str
    deltas: Mapping[str, float]
    capped: bool = False
    good: bool = False


@dataclass(frozen=True)
class Combiner:
    """Fitted weights and where they came from (what a checkpoint's metadata records)."""

    weights: Weights
    prm_weight: float
    prm_form: str = "potential-v1"
    validation: Mapping[str, Any] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    version: int = COMBINER_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "prm_form": self.prm_form,
            "weights": self.weights.to_json(),
            "prm_weight": self.prm_weight,
            "validation": dict(self.validation),
            "provenance": dict(self.provenance),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Combiner:
        if data.get("version") != COMBINER_VERSION:
            raise UsageError(f"combiner version {data.get('version')} is not {COMBINER_VERSION}")
        if data.get("prm_form", "potential-v1") != "potential-v1":
            raise UsageError(
                f"combiner fitted for PRM form {data.get('prm_form')!r}, only "
                "potential-v1 is supported"
            )
        weight = float(data["prm_weight"])
        if not (weight >= 0.0 and weight != float("inf")):
            raise UsageError(f"combiner PRM weight must be finite and non-negative, not {weight}")
        return cls(
            Weights.parse(data["weights"]),
            weight,
            "potential-v1",
            dict(data.get("validation", {})),
            dict(data.get("provenance", {})),
        )


def score(c: Candidate, weights: Mapping[str, float]) -> float:
    """The combined reward of a candidate under weights {a, a_w, x, w}."""
    d = c.deltas
    total = (
        weights["a"] * d.get("dE", 0.0)
        + weights["a_w"] * d.get("dW", 0.0)
        + weights["x"] * d.get("dX", 0.0)
        + weights["w"] * SCALE * d.get("dV", 0.0)
    )
    return min(total, 0.0) if c.capped else total


def _task_metrics(scores: Sequence[tuple[float, bool, str]]) -> dict[str, float]:
    fix = [s for s, good, _ in scores if good]
    others = [s for s, good, _ in scores if not good]
    if len(fix) != 1 or not others:
        raise UsageError("each task needs exactly one good candidate and at least one other")
    f = fix[0]
    above = sum(1 for s in others if s > f)
    ties = sum(1 for s in others if s == f)
    noop = [s for s, _, cid in scores if cid == "noop"]
    return {
        "rr": sum(1.0 / (above + 1 + k) for k in range(ties + 1)) / (ties + 1),
        "top1": float(above == 0 and ties == 0),
        "pairwise": (sum(1.0 for s in others if s < f) + 0.5 * ties) / len(others),
        "noop_ge": float(bool(noop) and noop[0] >= f),
    }


def evaluate(
    tasks: Sequence[Sequence[Candidate]], weights: Mapping[str, float]
) -> dict[str, float]:
    """Mean MRR, strict top-1, pairwise accuracy and no-op >= fix over tasks."""
    per = [_task_metrics([(score(c, weights), c.good, c.id) for c in t]) for t in tasks]
    n = len(per)
    out: dict[str, float] = {"tasks": float(n)}
    for key in ("rr", "top1", "pairwise", "noop_ge"):
        out[key] = round(sum(p[key] for p in per) / n, 6) if n else float("nan")
    return out


def grid_points(grid: Mapping[str, Sequence[float]] = GRID) -> list[dict[str, float]]:
    keys = ("a", "a_w", "x", "w")
    return [
        dict(zip(keys, vals, strict=True))
        for vals in itertools.product(*(sorted(grid[k]) for k in keys))
    ]


def prior_distance(point: Mapping[str, float]) -> float:
    """How far a grid point is from the built-in defaults (the tie-break of ``fit``)."""
    d = Weights()
    defaults = {"a": d.a, "a_w": d.a_w, "x": d.x, "w": 1.0}
    eps = 1 / 64
    return round(
        sum(abs(math.log2((point[k] + eps) / (defaults[k] + eps))) for k in defaults if k in point),
        9,
    )


def fit(
    tasks: Sequence[Sequence[Candidate]], grid: Mapping[str, Sequence[float]] = GRID
) -> tuple[dict[str, float], dict[str, float]]:
    """(the chosen {a, a_w, x, w}, its validation metrics) by the procedure in the module doc."""
    if not tasks:
        raise UsageError("no validation tasks to fit the combiner on")
    best: tuple[tuple[float, float, float, float], dict[str, float], dict[str, float]] | None = None
    for point in grid_points(grid):
        m = evaluate(tasks, point)
        key = (m["rr"], m["pairwise"], -m["noop_ge"], -prior_distance(point))
        if best is None or key > best[0]:
            best = (key, point, m)
    assert best is not None
    return best[1], best[2]


def tasks_digest(tasks: Sequence[Sequence[Candidate]]) -> str:
    """sha256 of the validation data (canonical JSON): recorded as the fit's provenance."""
    data = [
        [[c.id, c.good, c.capped, {k: c.deltas.get(k, 0.0) for k in FEATURES}] for c in t]
        for t in tasks
    ]
    return hashlib.sha256(
        json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def combiner_from_fit(
    point: Mapping[str, float], metrics: Mapping[str, Any], provenance: Mapping[str, Any]
) -> Combiner:
    defaults = Weights()
    weights = Weights(a=point["a"], a_w=point["a_w"], b=defaults.b, g=defaults.g, x=point["x"])
    return Combiner(weights, float(point["w"]), "potential-v1", dict(metrics), dict(provenance))
