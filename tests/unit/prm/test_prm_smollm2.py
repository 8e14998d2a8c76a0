"""The default backbone, SmolLM2-135M, zero-shot. Runs only where 'codeprm prm fetch' has run."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from codeprm.prm.fetch import GGUF_SHA256, default_dest, fetch
from codeprm.prm.records import StepInput

CKPT = default_dest()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CKPT / "config.json").is_file(),
        reason=f"no SmolLM2 checkpoint in {CKPT}: run 'codeprm prm fetch' to enable",
    ),
]

BUGGY = '''def mean(values):
    """Average of a non-empty list."""
    total = 0
    for v in values:
        total += v
    return
'''


def test_fetch_is_idempotent() -> None:
    result = fetch()
    assert result.reused and result.path == CKPT


def test_zero_shot_prefers_the_real_repair() -> None:
    from codeprm.prm.infer import load_scorer

    scorer = load_scorer(None, "cpu")
    assert scorer.meta.base_model["gguf_sha256"] == GGUF_SHA256
    good = StepInput(BUGGY, BUGGY.replace("return\n", "return total / len(values)\n"))
    bad = StepInput(BUGGY, BUGGY.replace("total += v", "total -= v"))
    broken = StepInput(BUGGY, BUGGY.replace("return\n", "return totl / len(values)\n"))
    p = scorer.score([good, bad, broken])
    assert p[0] > p[1] and p[0] > p[2], p
    scorer.cache.data.clear()
    assert scorer.score([good, bad, broken]) == p  # bit-identical on CPU
