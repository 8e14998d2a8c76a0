"""Metrics, Platt calibration and the reward combination (pure, no torch)."""

from __future__ import annotations

import math
import random

import pytest

from codeprm.errors import UsageError
from codeprm.prm.calibrate import Calibration, auroc, best_of_n_top1, ece, fit_platt, sigmoid
from codeprm.prm.combine import combine


def test_auroc() -> None:
    assert auroc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    assert auroc([1, 1, 1], [True, False, False]) == 0.5
    assert math.isnan(auroc([1, 2], [True, True]))


def test_ece() -> None:
    assert ece([1.0, 0.0], [True, False]) == 0.0
    assert ece([0.75] * 4, [True, True, True, False]) == pytest.approx(0.0)
    assert ece([0.9] * 2, [False, False]) == pytest.approx(0.9)


def test_best_of_n_counts_ties_at_chance() -> None:
    top1, chance = best_of_n_top1(
        [0.9, 0.1, 0.5, 0.5], [True, False, True, False], ["a", "a", "b", "b"]
    )
    assert top1 == 0.75 and chance == 0.5
    top1, _ = best_of_n_top1([0.0] * 4, [True, False, False, False], ["g"] * 4)
    assert top1 == 0.25


def test_platt_recovers_a_logistic_model() -> None:
    rng = random.Random(0)
    xs = [(rng.gauss(0, 2), rng.gauss(0, 3)) for _ in range(3000)]
    ys = [rng.random() < sigmoid(1.5 * a - 0.5 * b + 0.3) for a, b in xs]
    cal = fit_platt(xs, ys, ("a", "b"), l2=0.0)
    assert cal.weights == pytest.approx((1.5, -0.5), abs=0.15)
    assert cal.bias == pytest.approx(0.3, abs=0.15)
    again = Calibration.from_json(cal.to_json())
    assert again.probability((1.0, 2.0)) == cal.probability((1.0, 2.0))


def test_combine_centres_the_prm_term() -> None:
    total, parts = combine(0.25, 0.5, 2.0)
    assert total == 0.25 and parts["prm_term"] == 0.0
    total, parts = combine(0.0, 1.0, 2.0)
    assert total == 1.0 and parts["prm_centred"] == 0.5 and parts["deterministic"] == 0.0
    assert combine(-1.0, 0.0, 1.0)[0] == -1.5
    for bad in [(0.0, 1.5, 1.0), (0.0, 0.5, -1.0), (float("nan"), 0.5, 1.0)]:
        with pytest.raises(UsageError):
            combine(*bad)
