"""Counterfactual re-scoring: recompute step rewards from recorded bundles, no server.

What ``codeprm replay`` runs (not to be confused with ``codeprm trace replay``, which
re-runs recorded invocations over frame playback: ``lsp.playback``).

Each step bundle records the facts of the states before and after it
(``processReward.before`` / ``after``); any other weights or formula is a pure function
of those. Bundles are checked first: a bundle whose id does not match its content is a
replay mismatch (exit 76), never silently re-scored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeprm.errors import UsageError
from codeprm.rewards.functional import DEFAULT_FORMULA, Facts, Weights, step_reward


@dataclass(frozen=True)
class Rescored:
    index: int
    bundle_id: str
    original: float
    reward: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "bundleId": self.bundle_id,
            "original": self.original,
            "total": self.reward["total"],
            "components": self.reward["components"],
        }


def read_bundles(path: Path) -> Iterator[dict[str, Any]]:
    """Bundles from a JSONL file, each validated (schema and id) with its line number."""
    from codeprm.bundles.jsonl import iter_jsonl
    from codeprm.bundles.schema import validate_bundle

    for where, bundle in iter_jsonl(path):
        validate_bundle(bundle, where=where)
        yield bundle


def rescore(
    bundles: Iterable[dict[str, Any]],
    weights: Weights | None,
    formula: str = DEFAULT_FORMULA,
    *,
    prm_weight: float | None = None,
    probabilities: Sequence[float | None] | None = None,
) -> list[Rescored]:
    """Recompute every step's reward under other weights, formula or PRM.

    A step that carried a PRM term keeps it, in its recorded form (``potential-v1``: the
    learned potential's change dV; ``step-v1``: the probability p): with its recorded
    value, or the one given in ``probabilities`` (a re-scoring by another checkpoint: dV
    or p, by form), and its recorded weight unless ``prm_weight`` is given. ``weights``
    None keeps each step's recorded weights (which may be a checkpoint's fitted ones). A
    step the guard caught stays capped at 0 under ``potential-v2``.
    """
    from codeprm.rewards.combined import combine

    out = []
    for index, bundle in enumerate(bundles):
        reward = bundle.get("processReward")
        if not reward:
            raise UsageError(
                f"bundle {index} ({bundle.get('request', {}).get('operation')}) carries "
                "no process reward"
            )
        if not isinstance(reward, dict) or not all(
            isinstance(reward.get(k), dict) for k in ("before", "after")
        ):
            raise UsageError(
                f"bundle {index}: its process reward records no facts before and after "
                "(nothing to re-score)"
            )
        try:
            before, after = Facts.from_json(reward["before"]), Facts.from_json(reward["after"])
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(
                f"bundle {index}: malformed facts in its process reward: {err!r}"
            ) from err
        try:
            recorded = reward.get("weights")
            if recorded is not None and not isinstance(recorded, dict):
                raise UsageError("not an object")
            used = weights if weights is not None else Weights.parse(recorded)
        except UsageError as err:
            raise UsageError(f"bundle {index}: bad recorded weights: {err.one_line()}") from err
        new = step_reward(before, after, used, formula)
        prm = reward.get("prm")
        if prm is not None:
            form = prm.get("form", "step-v1")
            key = "delta" if form == "potential-v1" else "probability"
            value = (
                probabilities[index]
                if probabilities is not None and probabilities[index] is not None
                else prm[key]
            )
            prm = {
                **prm,
                "form": form,
                key: value,
                "weight": prm["weight"] if prm_weight is None else prm_weight,
            }
        guard = reward.get("guard") if formula == "potential-v2" else None
        if guard is not None:
            guard = {k: v for k, v in guard.items() if k != "withheld"}
        new = combine(new, prm=prm, guard=guard)
        out.append(Rescored(index, bundle["bundleId"], reward["total"], new))
    return out
