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
facts = st.builds(
    Facts,
    errors=counts,
    warnings=counts,
    safe=st.booleans(),
    confidence=conf,
    hidden_errors=st.integers(0, 20),
    hidden_warnings=st.integers(0, 20),
    failing_tests=st.none() | st.integers(0, 50),
)
weight = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)
weights = st.builds(Weights, a=weight, a_w=weight, b=weight, g=weight, x=weight)


@given(facts, weights)
def test_no_change_no_reward(f: Facts, w: Weights) -> None:
    r = step_reward(f, f, w)
    assert r["total"] == 0.0
    assert all(v == 0.0 for v in r["components"].values())


@given(
    facts, facts, weights, st.sampled_from(["errors", "warnings", "safe", "confidence"]), st.data()
)
def test_improving_a_fact_never_lowers_the_reward(
    before: Facts, after: Facts, w: Weights, which: str, data: st.DataObject
) -> None:
    base = step_reward(before, after, w)["total"]
    from dataclasses import replace

    if which == "errors":
        better = replace(after, errors=data.draw(st.integers(0, after.errors)))
    elif which == "warnings":
        better = replace(after, warnings=data.draw(st.integers(0, after.warnings)))
    elif which == "safe":
        better = replace(after, safe=True)
    else:
        better = replace(after, confidence=data.draw(st.floats(after.confidence, 1.0)))
    assert step_reward(before, better, w)["total"] >= base


@settings(max_examples=200)
@given(
    st.lists(facts, min_size=2, max_size=12),
    weights,
    st.sampled_from(["potential-v2", "potential-v1"]),
)
def test_rewards_telescope(states: list[Facts], w: Weights, formula: str) -> None:
    rewards = trajectory_rewards(states, w, formula)
    assert len(rewards) == len(states) - 1
    expected = potential(states[-1], w, formula) - potential(states[0], w, formula)
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
    assert r["formula"]["name"] == "potential-v2" and r["weights"] == {
        "a": 0.5,
        "a_w": 0.1,
        "b": 0.4,
        "g": 0.1,
        "x": 0.5,
    }


def test_hidden_diagnostics_and_failing_tests_count_in_v2_only() -> None:
    before = Facts(errors=1, warnings=0)
    hidden = Facts(errors=0, warnings=0, hidden_errors=1)  # the error was suppressed, not fixed
    assert step_reward(before, hidden, Weights())["total"] == 0.0
    assert (
        step_reward(before, hidden, Weights(), "potential-v1")["total"] == 0.5
    )  # the old form is fooled
    fixed_test = step_reward(Facts(0, 0, failing_tests=2), Facts(0, 0, failing_tests=1), Weights())
    assert fixed_test["components"]["execution"] == 0.5 and fixed_test["total"] == 0.5
    assert Facts.from_json(hidden.to_json()) == hidden
    assert (
        "hiddenErrors" not in Facts(1, 0).to_json() and "failingTests" not in Facts(1, 0).to_json()
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1,b=0", Weights(a=1.0, b=0.0)),
        ("", Weights()),
        (None, Weights()),
        ({"g": 0.3}, Weights(g=0.3)),
    ],
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
