"""The combined reward end to end: a real PRM checkpoint, the real server, replay without either."""

from __future__ import annotations

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

    records = mine_corpus([Path(sysconfig.get_paths()["stdlib"])], MiningConfig(seed=1), max_files=30)
    config = TrainConfig(steps=6, log_every=3, batch_bugs=4, lr=2e-3, warmup=2, device="cpu", max_length=192, tiny_hidden=32, tiny_vocab=512, calibration_max=100)
    return train(records, tmp_path_factory.mktemp("prm") / "tiny", config).path


def test_step_bundle_records_the_prm_term_and_replay_reproduces_it(checkpoint: Path, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    edit = tmp_path / "break.diff"
    edit.write_text(BREAK)
    runs = [run_cli("step", str(edit), "-w", str(ws), "--prm", str(checkpoint), "--prm-weight", "2", "--json") for _ in range(2)]
    assert all(r.code == 0 for r in runs), runs[0].err
    first, second = (check_bundle(json.loads(r.out)) for r in runs)
    assert first["bundleId"] == second["bundleId"]  # the PRM is deterministic too
    reward = first["processReward"]
    prm = reward["prm"]
    assert 0.0 <= prm["probability"] <= 1.0 and prm["weight"] == 2.0
    assert len(prm["checkpoint"]) == 64 and prm["inputs"][0]["path"] == "pkg/geometry.py"
    assert "def area(width: float) -> float:" in prm["inputs"][0]["after"]
    assert reward["deterministicTotal"] == pytest.approx(-1.0)
    assert reward["total"] == pytest.approx(-1.0 + 2.0 * (prm["probability"] - 0.5))
    bundles = tmp_path / "b.jsonl"
    bundles.write_text(runs[0].out)
    # offline: the recorded probability under another weight, and a re-score with the checkpoint
    zero = json.loads(run_cli("replay", str(bundles), "--prm-weight", "0", "--json", env={"CODEPRM_SERVER_COMMAND": "/nonexistent"}).out)
    assert zero["steps"][0]["total"] == pytest.approx(-1.0)
    again = json.loads(run_cli("replay", str(bundles), "--prm", str(checkpoint), "--json").out)
    assert again["steps"][0]["total"] == pytest.approx(reward["total"])
