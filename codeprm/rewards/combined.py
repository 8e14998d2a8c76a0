"""The combined step reward: the deterministic potential, the learned potential, the guard. Pure.

    r = [Phi(F_t) - Phi(F_{t-1})] + w * s * (V(s_t) - V(s_{t-1}))      (prm form potential-v1)

V is the learned PRM's potential (``analysis.potential``: calibrated log-odds summed over
the code's units, no intercept) and s = 1/4 = sigma'(0), so that w means what it meant
in the old per-step form near p = 1/2. A step that changes nothing gets exactly 0 from
both parts, and a trajectory's rewards telescope to the difference of the end states.

The old per-step form ``step-v1``, ``w * (p - 1/2)`` with p the calibrated probability
that the step is good, stays selectable for comparison. It is not potential-based: a
model that finds most edits worse than a coin flip makes doing nothing beat every edit.

The guard (``rewards.guard``): a step caught hiding diagnostics or weakening tests
(``capped``) earns at most 0; the positive part of its total is recorded as ``withheld``.
Everything needed to recompute the total is in the reward.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from codeprm.errors import UsageError

PRM_FORMS = ("potential-v1", "step-v1")
DEFAULT_PRM_FORM = "potential-v1"
SCALE = 0.25
_DIGITS = 12


def _r(x: float) -> float:
    v = round(x, _DIGITS)
    return 0.0 if v == 0 else v


def check_form(form: str) -> str:
    if form not in PRM_FORMS:
        raise UsageError(f"unknown PRM form {form!r} (known: {', '.join(PRM_FORMS)})")
    return form


def learned_term(form: str, weight: float, value: float) -> float:
    """w * s * dV (``value`` is dV) or w * (p - 1/2) (``value`` is p)."""
    if not (math.isfinite(weight) and weight >= 0.0):
        raise UsageError(f"PRM weight must be a finite number >= 0, not {weight}")
    if not math.isfinite(value):
        raise UsageError(f"PRM value must be finite, not {value}")
    if check_form(form) == "potential-v1":
        return weight * SCALE * value
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"PRM probability must be in [0, 1], not {value}")
    return weight * (value - 0.5)


def prm_value(prm: Mapping[str, Any]) -> float:
    """The recorded quantity the term is computed from: dV, or p for step-v1."""
    form = prm.get("form", "step-v1")  # bundles before the potential form carried p only
    return float(prm["delta"] if form == "potential-v1" else prm["probability"])


def combine(
    deterministic: Mapping[str, Any],
    *,
    prm: Mapping[str, Any] | None = None,
    guard: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The processReward from the deterministic reward (``functional.step_reward``), the
    PRM record (form, weight, delta or probability, checkpoint, inputs) and the guard's
    findings (``Guard.to_json()``)."""
    total = float(deterministic["total"])
    out: dict[str, Any] = {**deterministic, "components": dict(deterministic["components"])}
    if prm is not None:
        form = str(prm.get("form", "step-v1"))
        term = learned_term(form, float(prm["weight"]), prm_value(prm))
        out["components"]["prm"] = _r(term)
        out["deterministicTotal"] = deterministic["total"]
        out["prm"] = {**prm, "form": form, **({"scale": SCALE} if form == "potential-v1" else {})}
        total += term
    if guard is not None and (guard.get("detected") or guard.get("capped")):
        withheld = max(total, 0.0) if guard.get("capped") else 0.0
        out["guard"] = {**guard, "withheld": _r(withheld)}
        total -= withheld
    out["total"] = _r(total)
    return out
