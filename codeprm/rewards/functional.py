"""The deterministic step reward: potential-based shaping over language-server facts.

A state's facts are F = (E, W, S, c, H_E, H_W, X): error and warning counts over the
covered files, whether the state passed the safety checks (S in {0, 1}), the confidence
with which the step that produced it located its target (c in [0, 1]; 1 for the start
state), the errors and warnings that the trajectory so far hid instead of fixing
(suppression comments, widening to Any, deleting the code that held them: see
``rewards.guard``), and the selected tests that fail in the state (X, when execution
facts are on). The potential (``potential-v2``, the default) is

    Phi(F) = -a * (E + H_E) - a_w * (W + H_W) - x * X + b * S + g * c

so a diagnostic hidden by a new suppression still counts.

and the reward of a step is r_t = Phi(F_t) - Phi(F_{t-1}) (Ng, Harada and Russell 1999).
Properties, tested with hypothesis:

* a step that changes no fact gets exactly 0;
* improving any fact (fewer errors or warnings, passing safety, higher confidence)
  never lowers the reward, all else equal;
* the rewards of a trajectory telescope: sum r_t = Phi(F_T) - Phi(F_0).

``potential-v1`` is the same without the hidden and execution terms (hiding an error
earns the reward of fixing it); it is kept for comparison.
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

FORMULAS = ("potential-v2", "potential-v1", "published-v1")
DEFAULT_FORMULA = "potential-v2"
_DIGITS = 12


@dataclass(frozen=True)
class Weights:
    """The weights of the reward; unknown keys are rejected when parsed."""

    a: float = 0.5  # per error
    a_w: float = 0.1  # per warning (potential-v1 only)
    b: float = 0.4  # safety
    g: float = 0.1  # locate confidence
    x: float = 0.5  # per failing selected test (potential-v2, with execution facts)

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
                    raise UsageError(
                        f"bad weights {data!r}: expected key=value pairs such as a=0.5,b=0.4"
                    )
                pairs[key.strip()] = value.strip()
            data = pairs
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise UsageError(
                f"unknown reward weight(s): {', '.join(sorted(unknown))} (known: a, a_w, b, g, x)"
            )
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
    hidden_errors: int = 0  # hidden, not fixed, by this trajectory (rewards.guard)
    hidden_warnings: int = 0
    failing_tests: int | None = None  # selected tests failing in the state; None: not run

    def __post_init__(self) -> None:
        if min(self.errors, self.warnings, self.hidden_errors, self.hidden_warnings) < 0:
            raise ValueError("diagnostic counts are non-negative")
        if self.failing_tests is not None and self.failing_tests < 0:
            raise ValueError("failing test counts are non-negative")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError("confidence lies in [0, 1]")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "errors": self.errors,
            "warnings": self.warnings,
            "safe": self.safe,
            "confidence": self.confidence,
        }
        # only when present: bundles of states with nothing hidden and no tests keep their shape
        if self.hidden_errors or self.hidden_warnings:
            out.update(hiddenErrors=self.hidden_errors, hiddenWarnings=self.hidden_warnings)
        if self.failing_tests is not None:
            out["failingTests"] = self.failing_tests
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Facts:
        failing = data.get("failingTests")
        return cls(
            int(data["errors"]),
            int(data["warnings"]),
            bool(data["safe"]),
            float(data["confidence"]),
            int(data.get("hiddenErrors", 0)),
            int(data.get("hiddenWarnings", 0)),
            None if failing is None else int(failing),
        )


def _r(x: float) -> float:
    v = round(x, _DIGITS)
    return 0.0 if v == 0 else v  # no negative zero in canonical JSON


def potential(f: Facts, w: Weights, formula: str = "potential-v1") -> float:
    """Phi of one state (``potential-v2`` adds the hidden diagnostics and failing tests)."""
    base = (
        -w.a * f.errors - w.a_w * f.warnings + w.b * (1.0 if f.safe else 0.0) + w.g * f.confidence
    )
    if formula != "potential-v2":
        return base
    return base - w.a * f.hidden_errors - w.a_w * f.hidden_warnings - w.x * (f.failing_tests or 0)


def step_reward(
    before: Facts, after: Facts, w: Weights, formula: str = DEFAULT_FORMULA
) -> dict[str, Any]:
    """The reward of one step with every component, ready for a bundle's processReward."""
    version = 1
    if formula in ("potential-v1", "potential-v2"):
        v2 = formula == "potential-v2"
        e_b, e_a = (
            before.errors + v2 * before.hidden_errors,
            after.errors + v2 * after.hidden_errors,
        )
        w_b, w_a = (
            before.warnings + v2 * before.hidden_warnings,
            after.warnings + v2 * after.hidden_warnings,
        )
        components = {
            "errors": _r(w.a * (e_b - e_a)),
            "warnings": _r(w.a_w * (w_b - w_a)),
            "safety": _r(w.b * ((1.0 if after.safe else 0.0) - (1.0 if before.safe else 0.0))),
            "confidence": _r(w.g * (after.confidence - before.confidence)),
        }
        if v2 and (before.failing_tests is not None or after.failing_tests is not None):
            components["execution"] = _r(
                w.x * ((before.failing_tests or 0) - (after.failing_tests or 0))
            )
        total = _r(potential(after, w, formula) - potential(before, w, formula))
        if v2:
            version = 2
            expression = "Phi(F_t) - Phi(F_{t-1}), Phi = -a*(E+H_E) - a_w*(W+H_W) - x*X + b*S + g*c"
        else:
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
        "formula": {"name": formula, "version": version, "expression": expression},
        "weights": w.to_json(),
        "before": before.to_json(),
        "after": after.to_json(),
        "components": components,
        "total": total,
    }


def trajectory_rewards(
    states: Sequence[Facts], w: Weights, formula: str = DEFAULT_FORMULA
) -> list[float]:
    """Rewards of consecutive states F_0, F_1, ..., F_T (T rewards)."""
    return [step_reward(a, b, w, formula)["total"] for a, b in itertools.pairwise(states)]
