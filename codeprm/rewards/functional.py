"""The deterministic step reward: potential-based shaping over language-server facts.

A state's facts are F = (E, W, S, c): error and warning counts over the covered files,
whether the state passed the safety checks (S in {0, 1}), and the confidence with
which the step that produced it located its target (c in [0, 1]; 1 for the start
state). The potential is

    Phi(F) = -a_e * E - a_w * W + b * S + g * c

and the reward of a step is r_t = Phi(F_t) - Phi(F_{t-1}) (Ng, Harada and Russell 1999).
Properties, tested with hypothesis:

* a step that changes no fact gets exactly 0;
* improving any fact (fewer errors or warnings, passing safety, higher confidence)
  never lowers the reward, all else equal;
* the rewards of a trajectory telescope: sum r_t = Phi(F_T) - Phi(F_0).

The published functional r_t = a (D_{t-1} - D_t) + b S_t - g (1 - c_t) is kept as the
named variant ``published-v1`` for comparison: it gives a step that changes nothing but
has S_t = 0 and c_t < 1 a negative reward, so it is not monotone in the sense above.

Everything here is pure: same facts and weights, same float, on every machine (the
arithmetic is a fixed sequence of IEEE-754 operations; totals are rounded to 12
decimal places so that the canonical JSON is stable).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from codeprm.errors import UsageError

FORMULAS = ("potential-v1", "published-v1")
DEFAULT_FORMULA = "potential-v1"
_DIGITS = 12


@dataclass(frozen=True)
class Weights:
    """The weights of the reward; unknown keys are rejected when parsed."""

    a: float = 0.5  # per error
    a_w: float = 0.1  # per warning (potential-v1 only)
    b: float = 0.4  # safety
    g: float = 0.1  # locate confidence

    @classmethod
    def parse(cls, data: Mapping[str, Any] | str | None) -> Weights:
        """From a mapping, or from text ``a=0.5,b=0.4`` as given on the command line."""
        if data is None:
            return cls()
        if isinstance(data, str):
            pairs: dict[str, Any] = {}
            for item in filter(None, (p.strip() for p in data.split(","))):
                key, sep, value = item.partition("=")
                if not sep:
                    raise UsageError(f"bad weights {data!r}: expected key=value pairs such as a=0.5,b=0.4")
                pairs[key.strip()] = value.strip()
            data = pairs
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise UsageError(f"unknown reward weight(s): {', '.join(sorted(unknown))} (known: a, a_w, b, g)")
        try:
            values = {k: float(v) for k, v in data.items()}
        except (TypeError, ValueError) as err:
            raise UsageError(f"reward weights must be numbers: {err}") from err
        if any(v < 0 or v != v or v == float("inf") for v in values.values()):
            raise UsageError("reward weights must be finite and non-negative")
        return cls(**values)

    def to_json(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class Facts:
    """The facts of one state (after a step), as the reward sees them."""

    errors: int
    warnings: int
    safe: bool = True
    confidence: float = 1.0

    def __post_init__(self) -> None:
        if self.errors < 0 or self.warnings < 0:
            raise ValueError("diagnostic counts are non-negative")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError("confidence lies in [0, 1]")

    def to_json(self) -> dict[str, Any]:
        return {"errors": self.errors, "warnings": self.warnings, "safe": self.safe, "confidence": self.confidence}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Facts:
        return cls(int(data["errors"]), int(data["warnings"]), bool(data["safe"]), float(data["confidence"]))


def _r(x: float) -> float:
    v = round(x, _DIGITS)
    return 0.0 if v == 0 else v  # no negative zero in canonical JSON


def potential(f: Facts, w: Weights) -> float:
    return -w.a * f.errors - w.a_w * f.warnings + w.b * (1.0 if f.safe else 0.0) + w.g * f.confidence


def step_reward(before: Facts, after: Facts, w: Weights, formula: str = DEFAULT_FORMULA) -> dict[str, Any]:
    """The reward of one step with every component, ready for a bundle's processReward."""
    if formula == "potential-v1":
        components = {
            "errors": _r(w.a * (before.errors - after.errors)),
            "warnings": _r(w.a_w * (before.warnings - after.warnings)),
            "safety": _r(w.b * ((1.0 if after.safe else 0.0) - (1.0 if before.safe else 0.0))),
            "confidence": _r(w.g * (after.confidence - before.confidence)),
        }
        total = _r(potential(after, w) - potential(before, w))
        expression = "Phi(F_t) - Phi(F_{t-1}), Phi = -a*E - a_w*W + b*S + g*c"
    elif formula == "published-v1":
        d_before, d_after = before.errors + before.warnings, after.errors + after.warnings
        components = {
            "diagnostics": _r(w.a * (d_before - d_after)),
            "safety": _r(w.b * (1.0 if after.safe else 0.0)),
            "confidence": _r(-w.g * (1.0 - after.confidence)),
        }
        total = _r(sum(components.values()))
        expression = "a*(D_{t-1} - D_t) + b*S_t - g*(1 - c_t)"
    else:
        raise UsageError(f"unknown reward formula {formula!r} (known: {', '.join(FORMULAS)})")
    return {
        "formula": {"name": formula, "version": 1, "expression": expression},
        "weights": w.to_json(),
        "before": before.to_json(),
        "after": after.to_json(),
        "components": components,
        "total": total,
    }


def trajectory_rewards(states: Sequence[Facts], w: Weights, formula: str = DEFAULT_FORMULA) -> list[float]:
    """Rewards of consecutive states F_0, F_1, ..., F_T (T rewards)."""
    return [step_reward(a, b, w, formula)["total"] for a, b in itertools.pairwise(states)]
