"""The combined reward end to end: a real PRM checkpoint, the real server, replay without either."""

from __future__ import annotations

import itertools
import json
import shutil
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import BREAK, FIXTURES, check_bundle, run_cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny PRM trained for a few CPU steps on mined stdlib repairs."""
    pytest.importorskip("torch")
    from codeprm.prm.data import MiningConfig, mine_corpus
    from codeprm.prm.train import TrainConfig, train

    records = mine_corpus(
        [Path(sysconfig.get_paths()["stdlib"])], MiningConfig(seed=1), max_files=30
    )
    config = TrainConfig(
        steps=6,
        log_every=3,
        batch_bugs=4,
        lr=2e-3,
        warmup=2,
        device="cpu",
        max_length=192,
        tiny_hidden=32,
        tiny_vocab=512,
        calibration_max=100,
    )
    return train(records, tmp_path_factory.mktemp("prm") / "tiny", config).path


def test_step_bundle_records_the_prm_term_and_replay_reproduces_it(
    checkpoint: Path, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    edit = tmp_path / "break.diff"
    edit.write_text(BREAK)
    runs = [
        run_cli(
            "step",
            str(edit),
            "-w",
            str(ws),
            "--prm",
            str(checkpoint),
            "--prm-weight",
            "2",
            "--json",
        )
        for _ in range(2)
    ]
    assert all(r.code == 0 for r in runs), runs[0].err
    first, second = (check_bundle(json.loads(r.out)) for r in runs)
    assert first["bundleId"] == second["bundleId"]  # the PRM is deterministic too
    reward = first["processReward"]
    prm = reward["prm"]
    assert prm["form"] == "potential-v1" and prm["weight"] == 2.0 and prm["scale"] == 0.25
    assert len(prm["checkpoint"]) == 64 and prm["inputs"][0]["path"] == "pkg/geometry.py"
    assert (
        prm["inputs"][0]["unit"] == "area"
        and "def area(width: float) -> float:" in prm["inputs"][0]["after"]
    )
    assert prm["delta"] == pytest.approx(sum(i["delta"] for i in prm["inputs"]))
    assert reward["deterministicTotal"] == pytest.approx(-1.0)
    assert reward["total"] == pytest.approx(-1.0 + 2.0 * 0.25 * prm["delta"])
    bundles = tmp_path / "b.jsonl"
    bundles.write_text(runs[0].out)
    # offline: the recorded value under another weight, and a re-score with the checkpoint
    zero = json.loads(
        run_cli(
            "replay",
            str(bundles),
            "--prm-weight",
            "0",
            "--json",
            env={"CODEPRM_SERVER_COMMAND": "/nonexistent"},
        ).out
    )
    assert zero["steps"][0]["total"] == pytest.approx(-1.0)
    again = json.loads(run_cli("replay", str(bundles), "--prm", str(checkpoint), "--json").out)
    assert again["steps"][0]["total"] == pytest.approx(reward["total"])


def test_the_old_step_form_stays_selectable(checkpoint: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    edit = tmp_path / "break.diff"
    edit.write_text(BREAK)
    r = run_cli(
        "step",
        str(edit),
        "-w",
        str(ws),
        "--prm",
        str(checkpoint),
        "--prm-weight",
        "2",
        "--prm-form",
        "step-v1",
        "--json",
    )
    assert r.code == 0, r.err
    reward = check_bundle(json.loads(r.out))["processReward"]
    assert reward["prm"]["form"] == "step-v1" and 0.0 <= reward["prm"]["probability"] <= 1.0
    assert reward["total"] == pytest.approx(-1.0 + 2.0 * (reward["prm"]["probability"] - 0.5))


GEOMETRY = (FIXTURES / "ws_basic" / "pkg" / "geometry.py").read_text()


def _trajectory(path: Path, states: list[str]) -> None:
    rows = [
        {
            "schema": "codeprm.trajectory/1",
            "index": i,
            "files": [{"path": "pkg/geometry.py", "before": a, "after": b}],
        }
        for i, (a, b) in enumerate(itertools.pairwise(states))
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _rewards(ws: Path, traj: Path, out: Path, checkpoint: Path) -> list[dict]:
    r = run_cli(
        "score",
        str(traj),
        "-w",
        str(ws),
        "--bundles",
        str(out),
        "--prm",
        str(checkpoint),
        "--exec",
        "none",
    )
    assert r.code in (0, 77, 78), r.err
    return [json.loads(line)["processReward"] for line in out.read_text().splitlines()]


def test_the_learned_potential_gives_a_noop_zero_and_telescopes(
    checkpoint: Path, tmp_path: Path
) -> None:
    """No-op: exactly 0. Telescoping: the learned terms of s0 -> s1 -> s2 -> s3 sum to
    the learned term of s0 -> s3 scored as one step (both parts of the reward do)."""
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    assert "def area(" in GEOMETRY
    s1 = GEOMETRY + "\n\ndef unused() -> int:\n    return 1\n"
    s2 = s1.replace("return 1", "return 2")
    s3 = s2.replace("def area(width: float, height: float)", "def area(width: float)")
    states = [GEOMETRY, s1, s2, s2, s3]  # one step changes nothing
    _trajectory(tmp_path / "t.jsonl", states)
    steps = _rewards(ws, tmp_path / "t.jsonl", tmp_path / "b.jsonl", checkpoint)
    assert len(steps) == 4
    noop = steps[2]
    assert noop["total"] == 0.0 and (noop.get("prm") is None or noop["prm"]["delta"] == 0.0)
    _trajectory(tmp_path / "one.jsonl", [GEOMETRY, s3])
    (one,) = _rewards(ws, tmp_path / "one.jsonl", tmp_path / "one_b.jsonl", checkpoint)
    learned = sum(s["components"].get("prm", 0.0) for s in steps)
    assert learned == pytest.approx(one["components"]["prm"], abs=1e-6)
    assert sum(s["total"] for s in steps) == pytest.approx(one["total"], abs=1e-6)
    assert sum(s["deterministicTotal"] for s in steps if "deterministicTotal" in s) + sum(
        s["total"] for s in steps if "deterministicTotal" not in s
    ) == pytest.approx(one["deterministicTotal"], abs=1e-9)


def _fetched() -> bool:
    from codeprm.prm.fetch import default_dest

    return (default_dest() / "config.json").is_file()


@pytest.mark.skipif(
    not _fetched(), reason="the default PRM is not fetched: run 'codeprm prm fetch'"
)
def test_the_readme_demo_ranks_the_fix_first_and_the_noop_below_it(tmp_path: Path) -> None:
    """The README's first command: the fix first (its doctest now passes), the no-op at
    exactly 0, below the fix and above the candidate that breaks a name."""
    demo = Path(__file__).parents[2] / "examples"
    ws = tmp_path / "demo"
    shutil.copytree(demo / "demo", ws)
    r = run_cli(
        "rank",
        "shop/stats.py",
        "--candidates",
        str(demo / "demo_candidates.jsonl"),
        "-w",
        str(ws),
        "--json",
        cwd=ws,
    )
    assert r.code == 0, r.err
    ranked = json.loads(r.out)
    order = [c["id"] for c in ranked]
    assert order[0] == "fix-denominator", ranked
    noop = next(c for c in ranked if c["id"] == "no-op")
    assert noop["reward"] == 0.0 and order.index("no-op") < order.index("typo-in-name")
    assert ranked[0]["reward"] > 0 and ranked[0]["components"]["prm"]["form"] == "potential-v1"
    assert r.err == ""  # nothing from torch or transformers (warnings, logging, progress bars)


def test_a_checkpoints_fitted_combiner_gives_the_default_weights(
    checkpoint: Path, tmp_path: Path
) -> None:
    """The checkpoint's combiner supplies --weights and --prm-weight when they are not given;
    explicit flags win; the bundle records the weights used (replay needs no checkpoint);
    a step that changes nothing still earns exactly 0."""
    from codeprm.prm.checkpoint import read_meta, write_meta
    from codeprm.rewards.combiner import Combiner
    from codeprm.rewards.functional import Weights

    fitted = Combiner(
        Weights(a=1.0, a_w=0.2, b=0.4, g=0.1, x=1.5),
        3.0,
        validation={"rr": 1.0},
        provenance={"note": "test"},
    )
    ck = tmp_path / "ck"
    shutil.copytree(checkpoint, ck)
    meta = read_meta(ck)
    assert meta is not None
    write_meta(ck, meta.with_(combiner=fitted.to_json()))
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    edit = tmp_path / "break.diff"
    edit.write_text(BREAK)
    r = run_cli("step", str(edit), "-w", str(ws), "--prm", str(ck), "--exec", "none", "--json")
    assert r.code == 0, r.err
    reward = check_bundle(json.loads(r.out))["processReward"]
    assert reward["weights"] == fitted.weights.to_json() and reward["prm"]["weight"] == 3.0
    assert reward["deterministicTotal"] == pytest.approx(-2.0)  # two new errors at a = 1
    bundles = tmp_path / "b.jsonl"
    bundles.write_text(r.out)
    offline = json.loads(
        run_cli(
            "replay", str(bundles), "--json", env={"CODEPRM_SERVER_COMMAND": "/nonexistent"}
        ).out
    )
    assert offline["steps"][0]["total"] == pytest.approx(reward["total"])
    r = run_cli(
        "step",
        str(edit),
        "-w",
        str(ws),
        "--prm",
        str(ck),
        "--exec",
        "none",
        "--weights",
        "a=0.5",
        "--prm-weight",
        "2",
        "--json",
    )
    assert r.code == 0, r.err
    explicit = json.loads(r.out)["processReward"]
    assert explicit["weights"] == Weights(a=0.5).to_json() and explicit["prm"]["weight"] == 2.0
    _trajectory(tmp_path / "t.jsonl", [GEOMETRY, GEOMETRY])
    (noop,) = _rewards(ws, tmp_path / "t.jsonl", tmp_path / "n.jsonl", ck)
    assert noop["total"] == 0.0 and noop["weights"] == fitted.weights.to_json()
