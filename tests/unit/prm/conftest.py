"""Shared fixtures for the PRM tests: a small mined corpus, a tiny trained checkpoint."""

from __future__ import annotations

import os

# before any test module imports torch: OpenMP threads must sleep, not spin, on a busy machine
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import sysconfig
from pathlib import Path

import pytest

from codeprm.prm.data import MiningConfig, mine_corpus
from codeprm.prm.records import StepRecord

STDLIB = Path(sysconfig.get_paths()["stdlib"])


@pytest.fixture(scope="session")
def stdlib() -> Path:
    return STDLIB


@pytest.fixture(scope="session")
def mined() -> list[StepRecord]:
    """Repair steps from a seeded sample of stdlib files (all three splits present)."""
    records = mine_corpus([STDLIB], MiningConfig(seed=0), max_files=40)
    assert {r.split for r in records} == {"train", "valid", "test"}
    return records


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, mined: list[StepRecord]):
    """The tiny from-scratch classifier trained for a few CPU steps."""
    pytest.importorskip("torch")
    from codeprm.prm.train import TrainConfig, train

    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    config = TrainConfig(
        steps=30, log_every=5, batch_bugs=6, lr=2e-3, warmup=5, device="cpu",
        max_length=192, tiny_hidden=64, tiny_vocab=768, calibration_max=200,
    )  # fmt: skip
    return train(mined, out, config)
