"""Properties of the deterministic reward, checked with hypothesis."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeprm.errors import UsageError
from codeprm.rewards import Facts, Weights, step_reward, trajectory_rewards
from codeprm.rewards.functional import potential

counts = st.integers(min_value=0, max_value=500)
conf = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
facts = st.builds(Facts, errors=counts, warnings=counts, safe=st.booleans(), confidence=conf)
weight = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)
weights = st.builds(Weights, a=weight, a_w=weight, b=weight, g=weight)


@given(facts, weights)
def test_no_change_no_reward(f: Facts, w: Weights) -> None:
    r = step_reward(f, f, w)
    assert r["total"] == 0.0
    assert all(v == 0.0 for v in r["components"].values())


@given(facts, facts, weights, st.sampled_from(["errors", "warnings", "safe", "confidence"]), st.data())
def test_improving_a_fact_never_lowers_the_reward(before: Facts, after: Facts, w: Weights, which: str, data: st.DataObject) -> None:
    base = step_reward(before, after, w)["total"]
    if which == "errors":
        better = Facts(data.draw(st.integers(0, after.errors)), after.warnings, after.safe, after.confidence)
    elif which == "warnings":
        better = Facts(after.errors, data.draw(st.integers(0, after.warnings)), after.safe, after.confidence)
    elif which == "safe":
        better = Facts(after.errors, after.warnings, True, after.confidence)
    else:
        better = Facts(after.errors, after.warnings, after.safe, data.draw(st.floats(after.confidence, 1.0)))
    assert step_reward(before, better, w)["total"] >= base


@settings(max_examples=200)
@given(st.lists(facts, min_size=2, max_size=12), weights)
def test_rewards_telescope(states: list[Facts], w: Weights) -> None:
    rewards = trajectory_rewards(states, w)
    assert len(rewards) == len(states) - 1
    expected = potential(states[-1], w) - potential(states[0], w)
    assert math.isclose(sum(rewards), expected, rel_tol=1e-9, abs_tol=1e-9 * len(states))


@given(facts, facts, weights)
def test_components_sum_to_total(before: Facts, after: Facts, w: Weights) -> None:
    r = step_reward(before, after, w)
    assert math.isclose(sum(r["components"].values()), r["total"], abs_tol=1e-9)


def test_published_variant_punishes_a_step_that_changes_nothing() -> None:
    f = Facts(errors=2, warnings=0, safe=False, confidence=0.5)
    published = step_reward(f, f, Weights(), "published-v1")
    assert published["total"] == pytest.approx(-0.05)  # the flaw the potential form removes
    assert step_reward(f, f, Weights())["total"] == 0.0


def test_known_values_and_record() -> None:
    before = Facts(errors=1, warnings=2, safe=True, confidence=1.0)
    after = Facts(errors=0, warnings=2, safe=True, confidence=0.8)
    r = step_reward(before, after, Weights())
    assert r["total"] == pytest.approx(0.5 - 0.02)
    assert r["components"] == {"errors": 0.5, "warnings": 0.0, "safety": 0.0, "confidence": -0.02}
    assert r["formula"]["name"] == "potential-v1" and r["weights"] == {"a": 0.5, "a_w": 0.1, "b": 0.4, "g": 0.1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a=1,b=0", Weights(a=1.0, b=0.0)), ("", Weights()), (None, Weights()), ({"g": 0.3}, Weights(g=0.3))],
)
def test_weights_parse(text: object, expected: Weights) -> None:
    assert Weights.parse(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["a", "z=1", "a=x", "a=-1", "a=nan"])
def test_bad_weights_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        Weights.parse(text)


def test_unknown_formula() -> None:
    with pytest.raises(UsageError, match="unknown reward formula"):
        step_reward(Facts(0, 0), Facts(0, 0), Weights(), "nope")
