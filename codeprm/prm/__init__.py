"""The learned process reward model: data, model, training, scoring, checkpoints.

The only package that imports torch/transformers, and only lazily: this module and the
pure modules (records, text, mutate, data, calibrate, combine) never import them, so
``import codeprm.prm`` is cheap. ``load_scorer`` imports torch when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from codeprm.prm.combine import combine
from codeprm.prm.records import StepInput, StepRecord

if TYPE_CHECKING:
    from codeprm.prm.infer import Scorer

__all__ = ["StepInput", "StepRecord", "combine", "load_scorer"]


def load_scorer(
    path: str | Path | None = None,
    device: str = "auto",
    *,
    batch_size: int | None = None,
    cache_size: int = 4096,
) -> Scorer:
    """A scorer from a local checkpoint directory (None: the fetched SmolLM2-135M default).

    ``Scorer.score(steps) -> list[float]`` gives calibrated probabilities that each step is
    good; ``Scorer.checkpoint_hash`` and ``Scorer.describe()`` say what to record.
    ``batch_size`` None means 1 on CPU (batch-independent, bit-reproducible scores) and 16
    on CUDA.
    """
    from codeprm.prm.infer import load_scorer as _load

    return _load(path, device, batch_size=batch_size, cache_size=cache_size)
