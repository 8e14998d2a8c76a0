"""Calibration and quality metrics: Platt scaling, AUROC, ECE, best-of-N top-1. Pure Python.

Calibration is Platt scaling, ``p = sigmoid(w . x + b)``, fitted by Newton's method with a
small L2 penalty on our own held-out split. With one feature (a classifier's logit) it is
temperature scaling plus a bias; for the zero-shot scorer the features are the log-likelihood
delta and the token-count delta, so the fit also learns the length correction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True, slots=True)
class Calibration:
    """``p = sigmoid(sum(w_i * x_i) + bias)`` over the named features."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float = 0.0
    method: str = "platt"
    fitted_on: Mapping[str, Any] = field(default_factory=dict)

    def logit(self, x: Sequence[float]) -> float:
        return sum(w * v for w, v in zip(self.weights, x, strict=True)) + self.bias

    def probability(self, x: Sequence[float]) -> float:
        return sigmoid(self.logit(x))

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "features": list(self.features),
            "weights": list(self.weights),
            "bias": self.bias,
            "fitted_on": dict(self.fitted_on),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibration:
        return cls(
            features=tuple(data["features"]),
            weights=tuple(float(w) for w in data["weights"]),
            bias=float(data.get("bias", 0.0)),
            method=str(data.get("method", "platt")),
            fitted_on=dict(data.get("fitted_on", {})),
        )


def fit_platt(
    xs: Sequence[Sequence[float]],
    ys: Sequence[bool],
    features: Sequence[str],
    *,
    l2: float = 1e-3,
    iterations: int = 50,
    fitted_on: Mapping[str, Any] | None = None,
) -> Calibration:
    """Logistic regression by Newton's method (features are few: a 3x3 solve at most)."""
    if len(xs) != len(ys) or not xs:
        raise ValueError("calibration needs as many labels as feature rows, and at least one")
    d = len(features)
    # standardise for a well-conditioned Newton step, then map back
    mean = [sum(x[j] for x in xs) / len(xs) for j in range(d)]
    std = [math.sqrt(sum((x[j] - mean[j]) ** 2 for x in xs) / len(xs)) or 1.0 for j in range(d)]
    rows = [[(x[j] - mean[j]) / std[j] for j in range(d)] + [1.0] for x in xs]
    theta = [0.0] * (d + 1)
    for _ in range(iterations):
        grad = [0.0] * (d + 1)
        hess = [[0.0] * (d + 1) for _ in range(d + 1)]
        for row, y in zip(rows, ys, strict=True):
            p = sigmoid(sum(t * v for t, v in zip(theta, row, strict=True)))
            err = p - (1.0 if y else 0.0)
            s = max(p * (1 - p), 1e-12)
            for i in range(d + 1):
                grad[i] += err * row[i]
                for j in range(d + 1):
                    hess[i][j] += s * row[i] * row[j]
        for i in range(d):  # no penalty on the bias
            grad[i] += l2 * len(rows) * theta[i]
            hess[i][i] += l2 * len(rows)
        step = _solve(hess, grad)
        theta = [t - s for t, s in zip(theta, step, strict=True)]
        if max(abs(s) for s in step) < 1e-10:
            break
    weights = tuple(theta[j] / std[j] for j in range(d))
    bias = theta[d] - sum(theta[j] * mean[j] / std[j] for j in range(d))
    return Calibration(tuple(features), weights, bias, "platt", dict(fitted_on or {}))


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (tiny systems only)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        if abs(m[col][col]) < 1e-300:
            continue
        for r in range(n):
            if r != col:
                f = m[r][col] / m[col][col]
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    return [m[i][n] / m[i][i] if abs(m[i][i]) > 1e-300 else 0.0 for i in range(n)]


# --------------------------------------------------------------------------- metrics


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); nan without both classes."""
    pairs = sorted(zip(scores, labels, strict=True), key=lambda p: p[0])
    n_pos = sum(1 for _, y in pairs if y)
    n_neg = len(pairs) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j + 1 < len(pairs) and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + j) / 2 + 1
        rank_sum += avg_rank * sum(1 for k in range(i, j + 1) if pairs[k][1])
        i = j + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def ece(probabilities: Sequence[float], labels: Sequence[bool], *, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    if not probabilities:
        return float("nan")
    total = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [
            i for i, p in enumerate(probabilities) if lo <= p < hi or (b == bins - 1 and p == 1.0)
        ]
        if idx:
            conf = sum(probabilities[i] for i in idx) / len(idx)
            acc = sum(1 for i in idx if labels[i]) / len(idx)
            total += len(idx) / len(probabilities) * abs(conf - acc)
    return total


def best_of_n_top1(
    scores: Sequence[float], labels: Sequence[bool], groups: Sequence[str]
) -> tuple[float, float]:
    """(top-1 accuracy, chance level) over groups with at least one good and one bad step.

    Top-1: how often the highest-scored step of a group is a good one; a tie at the top
    counts as the fraction of good steps among the tied (the expected value of a random
    tie-break), so constant scores score exactly the chance level.
    """
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    hits = chance = 0.0
    n = 0
    for idx in by_group.values():
        ys = [labels[i] for i in idx]
        if all(ys) or not any(ys):
            continue
        top = max(scores[i] for i in idx)
        tied = [i for i in idx if scores[i] == top]
        hits += sum(1 for i in tied if labels[i]) / len(tied)
        chance += sum(ys) / len(ys)
        n += 1
    if n == 0:
        return float("nan"), float("nan")
    return hits / n, chance / n


def quality(
    scores: Sequence[float],
    labels: Sequence[bool],
    groups: Sequence[str],
    probabilities: Sequence[float] | None = None,
) -> dict[str, float]:
    """AUROC, best-of-N top-1 (and its chance level), and ECE when probabilities are given."""
    top1, chance = best_of_n_top1(scores, labels, groups)
    out = {
        "n": float(len(scores)),
        "auroc": auroc(scores, labels),
        "top1": top1,
        "top1_chance": chance,
    }
    if probabilities is not None:
        out["ece"] = ece(probabilities, labels)
    return out
