"""Rewards: pure functions of facts (and bundles) plus weights; no IO, no server."""

from __future__ import annotations

from codeprm.rewards.functional import (
    DEFAULT_FORMULA,
    FORMULAS,
    Facts,
    Weights,
    step_reward,
    trajectory_rewards,
)

__all__ = ["DEFAULT_FORMULA", "FORMULAS", "Facts", "Weights", "step_reward", "trajectory_rewards"]
