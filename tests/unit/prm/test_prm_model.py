"""The tiny from-scratch PRM on CPU: training lowers the loss, checkpoints round-trip, scores are
deterministic; the zero-shot path on a tiny causal LM; torch stays out of ``import codeprm``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from codeprm.errors import UsageError, VersionSkewError  # noqa: E402
from codeprm.prm.checkpoint import META_FILE, read_meta, weights_sha256  # noqa: E402
from codeprm.prm.infer import load_scorer  # noqa: E402
from codeprm.prm.records import StepInput  # noqa: E402


def test_training_lowers_the_loss(tiny_checkpoint) -> None:
    losses = tiny_checkpoint.losses
    assert len(losses) == 6
    assert min(losses[-3:]) < losses[0] - 0.05, losses


def test_the_gpu_configuration_trains_on_cpu_too(mined, tmp_path: Path) -> None:
    """bf16 autocast and the fused AdamW step (what a GPU run uses) on the CPU: the same loop
    learns, and the checkpoint keeps float32 weights that score deterministically."""
    from codeprm.prm.train import TrainConfig, train

    config = TrainConfig(
        steps=30, log_every=5, batch_bugs=6, lr=2e-3, warmup=5, device="cpu", precision="bf16",
        max_length=192, tiny_hidden=64, tiny_vocab=768, calibration_max=200,
    )  # fmt: skip
    result = train(mined, tmp_path / "bf16", config)
    assert result.meta.training["precision"] == "bf16"
    assert min(result.losses[-3:]) < result.losses[0] - 0.05, result.losses
    scorer = load_scorer(result.path, "cpu")
    assert {str(p.dtype) for p in scorer.model.parameters()} == {"torch.float32"}
    steps = [r.to_input() for r in mined[:6]]
    assert scorer.score(steps) == load_scorer(result.path, "cpu").score(steps)


def test_unknown_precision_is_a_usage_error() -> None:
    from codeprm.prm.runtime import autocast_dtype

    with pytest.raises(UsageError, match="unknown precision"):
        autocast_dtype("cpu", "fp8")


def test_checkpoint_is_self_describing(tiny_checkpoint) -> None:
    path = tiny_checkpoint.path
    meta = json.loads((path / META_FILE).read_text())
    assert meta["schema_version"] == 1 and meta["kind"] == "classifier"
    assert meta["weights_sha256"] == weights_sha256(path)
    assert meta["calibration"]["features"] == ["logit"]
    assert meta["calibration"]["fitted_on"]["split"] == "valid"
    assert {"valid_auroc", "valid_ece", "valid_top1"} <= set(meta["metrics"])
    assert meta["data_recipe"]["summary"]["records"] > 0
    assert meta["training"]["steps_done"] == 30 and meta["training"]["padding"] >= 1.0
    assert (path / "config.json").is_file() and (path / "tokenizer.json").is_file()


def test_save_load_round_trip_and_determinism(tiny_checkpoint, mined) -> None:
    steps = [r.to_input() for r in mined if r.split == "test"][:24]
    a = load_scorer(tiny_checkpoint.path, "cpu")
    b = load_scorer(tiny_checkpoint.path, "cpu", cache_size=0)
    first = a.score(steps)
    assert all(0.0 < p < 1.0 for p in first)
    assert b.score(steps) == first  # a fresh load gives bit-identical scores
    assert b.score(steps) == first  # and so does a second pass without the cache
    assert [b.score([s])[0] for s in steps[:6]] == first[:6]  # batch composition does not matter
    assert a.score(steps) == first and a.cache.hits >= len(steps)  # the cache answers repeats
    assert a.checkpoint_hash == tiny_checkpoint.meta.weights_sha256 == weights_sha256(a.path)
    described = a.describe()
    assert described["kind"] == "classifier" and described["checkpoint_hash"] == a.checkpoint_hash


def test_tampered_weights_are_refused(tiny_checkpoint, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_checkpoint.path, copy)
    weights = next(copy.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(VersionSkewError):
        load_scorer(copy, "cpu")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory, mined) -> Path:
    """A plain HF causal-LM directory (random tiny Llama + a locally trained tokenizer)."""
    import transformers

    from codeprm.prm.train import train_tokenizer

    tok = train_tokenizer([r.after for r in mined[:300]], vocab_size=600)
    config = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    path = tmp_path_factory.mktemp("lm") / "tiny-lm"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_zero_shot_scoring_of_a_plain_hf_checkpoint(tiny_lm: Path) -> None:
    scorer = load_scorer(tiny_lm, "cpu")
    assert scorer.meta.kind == "zero-shot" and read_meta(tiny_lm) is None
    before = "def f(x):\n    return x + 1\n"
    steps = [StepInput(before, "def f(x):\n    return x - 1\n"), StepInput(before, before)]
    feats = scorer.features(steps)
    assert feats[1] == (0.0, 0.0)  # a no-op step changes nothing
    assert scorer.score(steps) == scorer.score(list(steps))
    assert scorer.cache.hits >= 2


def test_zero_shot_prefix_cache_matches_full_rows_and_is_batch_independent(
    tiny_lm: Path, mined
) -> None:
    steps = [r.to_input() for r in mined[:12]]
    cached = load_scorer(tiny_lm, "cpu")  # CPU default: one row at a time, context KV reused
    batched = load_scorer(tiny_lm, "cpu", batch_size=8)
    a, b = cached.features(steps), batched.features(steps)
    assert [x[1] for x in a] == [x[1] for x in b]  # same token counts
    assert all(abs(x[0] - y[0]) < 1e-3 for x, y in zip(a, b, strict=True))
    fresh = load_scorer(tiny_lm, "cpu", cache_size=0)
    assert [fresh.features([s])[0] for s in steps[:5]] == a[:5]


def test_zero_shot_calibration_and_pairwise_fine_tuning(
    tiny_lm: Path, mined, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import codeprm.prm.model as model_mod
    from codeprm.prm.train import TrainConfig, train

    widths: list[int] = []
    real_pad = model_mod.pad_batch

    def recording_pad(rows, pad_id, device):  # type: ignore[no-untyped-def]
        widths.append(max(len(r) for r in rows))
        return real_pad(rows, pad_id, device)

    monkeypatch.setattr(model_mod, "pad_batch", recording_pad)
    records = [r for r in mined if r.split in ("train", "valid")][:160]
    result = train(
        records,
        tmp_path / "zs",
        TrainConfig(
            kind="zero-shot",
            steps=3,
            log_every=1,
            batch_bugs=2,
            lr=1e-3,
            device="cpu",
            max_length=256,
            train_length=48,
            calibration_max=80,
        ),
        base_model=tiny_lm,
    )
    meta = read_meta(result.path)
    assert meta is not None and meta.kind == "zero-shot" and len(result.losses) == 3
    # the 3 training batches are cropped to train_length; calibration scoring keeps max_length
    assert max(widths[:3]) <= 48 < max(widths[3:]), widths
    assert meta.max_length == 256 and meta.training["train_length"] == 48
    # the files that trained the weights are recorded, for leak checks by evaluations
    trained = {r.source_path for r in records if r.split == "train"}
    assert meta.trained_sources == trained and len(trained) > 1
    # fine-tuning further inherits them; calibrating only adds nothing
    again = train(
        [r for r in records if r.split == "valid"][:40], tmp_path / "zs2",
        TrainConfig(kind="zero-shot", steps=0, device="cpu", max_length=256, calibration_max=40),
        base_model=result.path,
    )  # fmt: skip
    assert again.meta.trained_sources == trained
    assert meta.calibration.features == ("delta_ll", "delta_tokens")
    assert meta.calibration.fitted_on["split"] == "valid"
    scorer = load_scorer(result.path, "cpu")
    assert scorer.checkpoint_hash == meta.weights_sha256


def test_training_without_held_out_records_is_a_usage_error(mined, tmp_path: Path) -> None:
    from codeprm.prm.train import TrainConfig, train

    only_train = [r for r in mined if r.split == "train"][:20]
    with pytest.raises(UsageError):
        train(only_train, tmp_path / "x", TrainConfig(steps=1, device="cpu"))


def test_benchmarks_reserved_for_evaluation_are_never_trained_or_calibrated_on(
    mined, tmp_path: Path
) -> None:
    import dataclasses

    from codeprm.prm.train import TrainConfig, train

    records = [r for r in mined if r.split in ("train", "valid")][:120]
    first_train = next(i for i, r in enumerate(records) if r.split == "train")
    first_valid = next(i for i, r in enumerate(records) if r.split == "valid")
    config = TrainConfig(steps=1, device="cpu", max_length=64, tiny_hidden=32, tiny_vocab=300)
    for index, path in ((first_train, "HumanEval/12.py"), (first_valid, "quixbugs/gcd.py")):
        tainted = list(records)
        tainted[index] = dataclasses.replace(records[index], source_path=path)
        with pytest.raises(UsageError, match="reserved for evaluation"):
            train(tainted, tmp_path / "x", config)
    assert not (tmp_path / "x").exists()


def test_missing_torch_is_a_clear_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from codeprm.prm import runtime

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(UsageError, match=r"torch==2\.13\.0"):
        runtime.require_torch()


def test_import_codeprm_does_not_import_torch() -> None:
    code = (
        "import sys, codeprm, codeprm.prm, codeprm.cli.prm, codeprm.prm.data, codeprm.prm.infer, "
        "codeprm.prm.train, codeprm.prm.fetch, codeprm.prm.checkpoint\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_length_bucketed_batches_keep_bugs_whole_and_cut_the_padding(mined) -> None:
    import random

    from codeprm.prm.records import group_by_bug
    from codeprm.prm.train import _bug_batches

    records = [r for r in mined if r.split == "train"]
    groups = list(group_by_bug(records).values())
    rng = random.Random(1)
    lengths = [0] * len(records)
    for g in groups:  # bugs of very different sizes, similar rows within a bug
        size = rng.choice((40, 80, 160, 320, 640))
        for j in g:
            lengths[j] = size + rng.randrange(8)
    n_batches = len(groups) // 4

    def epoch(bucketed: bool) -> list[list[int]]:
        it = _bug_batches(records, 4, 0, lengths if bucketed else None, pool_batches=8)
        return [next(it) for _ in range(n_batches)]

    def overhead(batches: list[list[int]]) -> float:
        padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
        return padded / sum(lengths[i] for b in batches for i in b)

    plain, bucketed = epoch(False), epoch(True)
    bug_of = {j: k for k, g in enumerate(groups) for j in g}
    for batches in (plain, bucketed):
        seen = [bug_of[j] for b in batches for j in b]
        # whole bugs, each at most once in an epoch, in batches of 4 bugs
        assert all(len({bug_of[j] for j in b}) == 4 for b in batches)
        assert sorted(seen) == sorted(j for k in set(seen) for j in [k] * len(groups[k]))
        assert len(set(seen)) == 4 * n_batches
    assert overhead(bucketed) < 0.7 * overhead(plain), (overhead(bucketed), overhead(plain))
    assert epoch(True) == bucketed  # deterministic for a seed
