"""The learned combiner: fitting on validation tasks, the checkpoint's defaults, explicit overrides."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codeprm.analysis.learned import checkpoint_combiner, reward_weights
from codeprm.errors import UsageError
from codeprm.prm.calibrate import Calibration
from codeprm.prm.checkpoint import CheckpointMeta, read_meta, write_meta
from codeprm.rewards.combiner import (
    Candidate,
    Combiner,
    combiner_from_fit,
    evaluate,
    fit,
    score,
    tasks_digest,
)
from codeprm.rewards.functional import Weights


def task(fix: dict[str, float], *others: tuple[str, dict[str, float], bool]) -> list[Candidate]:
    out = [Candidate("noop", {}), Candidate("fix", fix, good=True)]
    out += [Candidate(cid, d, capped) for cid, d, capped in others]
    return out


TASKS = [
    # the fix passes the test, a mutant passes it too but the PRM prefers the fix
    task(
        {"dX": 1.0, "dV": 0.4},
        ("mutant-1", {"dX": 1.0, "dV": -0.2}, False),
        ("broken-1", {"dE": -1.0, "dV": 0.5}, False),
    ),
    # no test runs: only the PRM tells the fix from a mutant
    task(
        {"dV": 0.3}, ("mutant-1", {"dV": -0.1}, False), ("broken-1", {"dE": -1.0, "dV": 0.1}, False)
    ),
    # a hack the guard caught scores at most 0
    task({"dX": 1.0}, ("hack", {"dX": 1.0, "dE": 1.0}, True)),
]

FITTED = Combiner(Weights(a=0.5, a_w=0.05, b=0.4, g=0.1, x=2.0), 4.0, validation={"rr": 1.0})


@given(
    st.fixed_dictionaries({k: st.floats(0, 100) for k in ("a", "a_w", "x", "w")}),
    st.booleans(),
)
def test_a_noop_earns_exactly_zero_whatever_the_weights(
    weights: dict[str, float], capped: bool
) -> None:
    assert score(Candidate("noop", {}, capped), weights) == 0.0


def test_fit_is_deterministic_and_beats_or_ties_the_defaults() -> None:
    point, metrics = fit(TASKS)
    assert fit(TASKS) == (point, metrics)
    defaults = evaluate(TASKS, {"a": 0.5, "a_w": 0.1, "x": 0.5, "w": 1.0})
    assert metrics["rr"] >= defaults["rr"]
    assert metrics["top1"] == 1.0 and metrics["noop_ge"] == 0.0
    assert all(v >= 0 for v in point.values())
    assert score(TASKS[2][2], point) == 0.0  # capped


def test_a_weight_the_data_cannot_see_keeps_its_prior() -> None:
    """No candidate of TASKS changes a warning: every a_w ties, and the fit keeps the
    default (0.1) instead of the grid's first point (0), which would make warnings free."""
    point, _ = fit(TASKS)
    assert point["a_w"] == Weights().a_w


def test_fit_needs_tasks_and_one_fix_each() -> None:
    with pytest.raises(UsageError):
        fit([])
    with pytest.raises(UsageError):
        evaluate([[Candidate("noop", {}), Candidate("x", {})]], {"a": 1, "a_w": 0, "x": 0, "w": 0})


def test_combiner_round_trips_and_records_provenance() -> None:
    point, metrics = fit(TASKS)
    c = combiner_from_fit(point, metrics, {"data_sha256": tasks_digest(TASKS)})
    assert Combiner.from_json(json.loads(json.dumps(c.to_json()))) == c
    assert c.weights.b == Weights().b and c.weights.g == Weights().g
    with pytest.raises(UsageError):
        Combiner.from_json({**c.to_json(), "version": 99})
    with pytest.raises(UsageError):
        Combiner.from_json({**c.to_json(), "weights": {"a": -1}})


def fake_scorer(combiner: Combiner | None) -> SimpleNamespace:
    meta = CheckpointMeta(
        kind="zero-shot",
        calibration=Calibration(features=("delta_ll",), weights=(1.0,), bias=0.0, method="platt"),
        combiner=combiner.to_json() if combiner else {},
    )
    return SimpleNamespace(meta=meta)


def test_the_checkpoint_weights_are_the_defaults_and_explicit_flags_win() -> None:
    scorer = fake_scorer(FITTED)
    assert checkpoint_combiner(scorer) == FITTED
    assert reward_weights(scorer, None, None) == (FITTED.weights, 4.0)
    # each explicit flag wins on its own
    assert reward_weights(scorer, "a=1", None) == (Weights(a=1.0), 4.0)
    assert reward_weights(scorer, None, 0.5) == (FITTED.weights, 0.5)
    assert reward_weights(scorer, "a=1,x=0", 2.0) == (Weights(a=1.0, x=0.0), 2.0)
    # fitted for the potential form only; no PRM or no combiner: the built-in defaults
    assert reward_weights(scorer, None, None, "step-v1") == (Weights(), 1.0)
    assert reward_weights(None, None, None) == (Weights(), 1.0)
    assert reward_weights(fake_scorer(None), None, None) == (Weights(), 1.0)


def test_checkpoint_metadata_carries_the_combiner(tmp_path: Path) -> None:
    meta = fake_scorer(FITTED).meta
    write_meta(tmp_path, meta)
    back = read_meta(tmp_path)
    assert back is not None and Combiner.from_json(back.combiner) == FITTED
    assert (
        back.scoring_hash() == meta.with_(combiner={}).scoring_hash()
    )  # weights do not change a PRM score
    plain = fake_scorer(None).meta
    assert "combiner" not in plain.to_json()  # metadata without one keeps its shape


def test_the_committed_combiner_is_valid_and_fetch_writes_it(tmp_path: Path) -> None:
    from codeprm.prm import fetch as fetch_mod
    from codeprm.prm.checkpoint import weights_sha256

    committed = fetch_mod.default_combiner()
    if fetch_mod.COMBINER_FILE.is_file():
        c = Combiner.from_json(committed)
        assert c.provenance.get("projects") and c.validation.get("tasks")
    # a checkpoint fetched by an older codeprm gets the committed combiner on the next fetch
    dest = tmp_path / "ck"
    dest.mkdir()
    (dest / "config.json").write_text("{}")
    (dest / "model.safetensors").write_bytes(b"weights")
    old = CheckpointMeta(
        kind="zero-shot",
        calibration=fetch_mod.SMOLLM2_CALIBRATION,
        base_model={"gguf_sha256": fetch_mod.GGUF_SHA256},
        weights_sha256=weights_sha256(dest),
    )
    write_meta(dest, old)
    result = fetch_mod.fetch(dest)
    assert result.reused
    meta = read_meta(dest)
    assert meta is not None and dict(meta.combiner) == committed


def test_replay_keeps_each_bundles_recorded_weights_unless_given() -> None:
    from codeprm.rewards.combined import combine
    from codeprm.rewards.functional import Facts, step_reward
    from codeprm.rewards.rescore import rescore

    w = FITTED.weights
    reward = combine(
        step_reward(Facts(2, 0, failing_tests=1), Facts(0, 0, failing_tests=0), w),
        prm={"form": "potential-v1", "weight": 4.0, "delta": 0.5},
    )
    bundle = {"bundleId": "x", "processReward": reward}
    (same,) = rescore([bundle], None)
    assert same.reward["total"] == reward["total"] == 0.5 * 2 + 2.0 * 1 + 4.0 * 0.25 * 0.5
    (other,) = rescore([bundle], Weights())
    assert other.reward["total"] == 0.5 * 2 + 0.5 * 1 + 4.0 * 0.25 * 0.5
    with pytest.raises(UsageError):
        rescore([{"bundleId": "y", "processReward": {**reward, "weights": [1]}}], None)
