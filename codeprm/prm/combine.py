"""Combine the deterministic reward with the PRM's probability into one step reward. Pure.

The benchmarks' view of the old per-step form (``step-v1``); the term itself is
``rewards.combined.learned_term``, the one the step reward uses.

The PRM term is centred: ``w * (p - 0.5)``. A PRM that knows nothing (p = 0.5) leaves the
deterministic reward unchanged; its sign says whether the model thinks the step is better or
worse than a coin flip, and its size is bounded by ``w / 2``, so ``w`` reads directly as "how
many deterministic-reward units the PRM may move the total at most, times two". An uncentred
``w * p`` would add a constant ``w / 2`` to every step and shift all rewards, which matters
for anything that compares rewards with zero (keep/revert decisions, advantage baselines).
"""

from __future__ import annotations

import math

from codeprm.errors import UsageError
from codeprm.rewards.combined import learned_term


def combine(
    deterministic_reward: float, prm_probability: float, w: float
) -> tuple[float, dict[str, float]]:
    """``total = deterministic_reward + w * (prm_probability - 0.5)``, with every component."""
    if not math.isfinite(deterministic_reward):
        raise UsageError(f"deterministic reward must be finite, not {deterministic_reward}")
    term = learned_term("step-v1", w, prm_probability)  # the one definition of the term
    centred = prm_probability - 0.5
    total = deterministic_reward + term
    return total, {
        "deterministic": deterministic_reward,
        "prm_probability": prm_probability,
        "prm_centred": centred,
        "prm_weight": w,
        "prm_term": term,
        "total": total,
    }
