"""LoRA delta checkpoints (``prm.lora``): training writes a small delta with its provenance, the
delta merges into the verified base the same way every time (both loaders, any thread count),
a changed delta or base is refused, and training hygiene still refuses held-out sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from codeprm.errors import UsageError, VersionSkewError  # noqa: E402
from codeprm.prm import lora  # noqa: E402
from codeprm.prm.checkpoint import (  # noqa: E402
    combined_sha256,
    is_delta_checkpoint,
    load_checkpoint,
    read_meta,
    weights_sha256,
)
from codeprm.prm.infer import Scorer, load_scorer  # noqa: E402
from codeprm.prm.records import StepInput, StepRecord  # noqa: E402
from codeprm.prm.train import TrainConfig, train  # noqa: E402


def tiny_llama(path: Path, mined: list[StepRecord]) -> Path:
    import transformers

    from codeprm.prm.train import train_tokenizer

    tok = train_tokenizer([r.after for r in mined[:300]], vocab_size=600)
    config = transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        tie_word_embeddings=True,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    model.tie_weights()
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def records(mined: list[StepRecord]) -> list[StepRecord]:
    train_bugs = sorted({r.bug_id for r in mined if r.split == "train"})[:6]
    valid_bugs = sorted({r.bug_id for r in mined if r.split == "valid"})[:6]
    keep = set(train_bugs) | set(valid_bugs)
    return [r for r in mined if r.bug_id in keep]


CONFIG = TrainConfig(
    kind="zero-shot", steps=4, batch_bugs=2, lr=2e-2, warmup=1, device="cpu", max_length=160,
    calibration_max=80, log_every=2, lora_rank=2, lora_alpha=4.0, lora_layers=2,
)  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, mined: list[StepRecord]):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("lora")
    base = tiny_llama(root / "base", mined)
    result = train(
        records(mined),
        root / "delta",
        CONFIG,
        base_model=base,
        data_recipe={"data": "stdlib sample"},
    )
    return base, result


STEPS = [
    StepInput(
        "def f(x):\n    return x + 1\n", "def f(x):\n    return x - 1\n", context="# file: a.py\n"
    ),
    StepInput(
        "def g(a, b):\n    return a < b\n",
        "def g(a, b):\n    return a <= b\n",
        context="# file: a.py\n",
    ),
]


def test_training_writes_a_small_delta_with_its_provenance(trained) -> None:  # type: ignore[no-untyped-def]
    base, result = trained
    out = result.path
    assert is_delta_checkpoint(out)
    assert sorted(p.name for p in out.iterdir()) == ["codeprm_prm.json", "delta.safetensors"]
    meta = read_meta(out)
    assert meta is not None and meta == result.meta
    delta = meta.delta
    assert delta["sha256"] == lora.delta_sha256(out / "delta.safetensors")
    assert delta["base_weights_sha256"] == weights_sha256(base)
    assert meta.weights_sha256 == combined_sha256(weights_sha256(base), delta["sha256"])
    assert delta["lora"]["rank"] == 2 and delta["lora"]["layers"] == [1, 2]
    assert meta.training["steps_done"] == 4 and meta.training["lora"]["rank"] == 2
    assert meta.training["final_loss"] is not None
    assert meta.data_recipe["data"] == "stdlib sample"
    assert meta.trained_sources  # what trained the adapters, for leak checks
    assert meta.base_model["path"] == str(base)
    # a delta is what ships: far smaller than the model it changes
    assert (out / "delta.safetensors").stat().st_size < sum(
        p.stat().st_size for p in base.glob("*.safetensors")
    )
    tensors, spec, base_sha = lora.load_delta(out / "delta.safetensors")
    assert base_sha == weights_sha256(base) and spec.layers == (1, 2)
    assert any(bool(t.abs().sum() > 0) for k, t in tensors.items() if k.endswith("lora_B"))


def test_the_delta_applies_deterministically_in_both_loaders(trained) -> None:  # type: ignore[no-untyped-def]
    base, result = trained
    first = load_scorer(result.path, "cpu", cache_size=0)
    again = load_scorer(result.path, "cpu", cache_size=0)
    assert first.features(STEPS) == again.features(STEPS)
    assert first.checkpoint_hash == result.meta.weights_sha256
    model, tok, meta = load_checkpoint(result.path, "cpu")  # transformers + merge_into_model
    slow = Scorer(model, tok, meta, device="cpu", cache_size=0)
    assert slow.features(STEPS) == first.features(STEPS)
    plain = load_scorer(base, "cpu", cache_size=0)
    assert plain.features(STEPS) != first.features(STEPS)  # the delta changes the scores
    assert plain.checkpoint_hash != first.checkpoint_hash


def test_the_merge_is_the_same_on_any_thread_count() -> None:
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(64, 48, generator=gen).to(torch.bfloat16).float()
    a, b = torch.randn(4, 48, generator=gen), torch.randn(64, 4, generator=gen) * 1e-3
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = lora.merged_weight(w, a, b, 2.0)
        torch.set_num_threads(max(2, threads))
        many = lora.merged_weight(w, a, b, 2.0)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, many) and one.dtype == torch.float32


def test_a_changed_delta_or_base_is_refused(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    base, result = trained
    copy = tmp_path / "delta"
    shutil.copytree(result.path, copy)
    data = bytearray((copy / "delta.safetensors").read_bytes())
    data[-1] ^= 1
    (copy / "delta.safetensors").write_bytes(bytes(data))
    with pytest.raises(VersionSkewError):
        load_checkpoint(copy, "cpu", for_scoring=True)
    shutil.copytree(result.path, tmp_path / "other")
    meta = json.loads((tmp_path / "other" / "codeprm_prm.json").read_text())
    meta["delta"]["base_weights_sha256"] = "0" * 64
    meta["base_model"]["path"] = str(base)
    (tmp_path / "other" / "codeprm_prm.json").write_text(json.dumps(meta))
    with pytest.raises((VersionSkewError, Exception)) as err:
        load_checkpoint(tmp_path / "other", "cpu", for_scoring=True)
    assert err.type.__name__ in ("VersionSkewError", "NotFoundError")


def test_lora_training_still_refuses_held_out_sets(
    trained, mined: list[StepRecord], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    base, _ = trained
    leaked = [
        r.with_(source_path="benchmarks/QuixBugs/python_programs/gcd.py") for r in records(mined)
    ]
    with pytest.raises(UsageError, match="QuixBugs"):
        train(leaked, tmp_path / "out", CONFIG, base_model=base)
    assert not (tmp_path / "out").exists()


def test_lora_needs_a_full_base(trained, mined: list[StepRecord], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, result = trained
    with pytest.raises(UsageError, match="full base"):
        train(records(mined), tmp_path / "out", CONFIG, base_model=result.path)


def test_the_shipped_delta_is_prm_realfix_over_the_fetched_base(
    trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from codeprm.analysis.learned import load_prm
    from codeprm.errors import NotFoundError
    from codeprm.prm import fetch

    base, result = trained
    shipped = tmp_path / "assets" / "smollm2-realfix"
    shutil.copytree(result.path, shipped)
    meta = json.loads((shipped / "codeprm_prm.json").read_text())
    meta["base_model"]["path"] = str(tmp_path / "elsewhere")  # found through the cache instead
    (shipped / "codeprm_prm.json").write_text(json.dumps(meta))
    monkeypatch.setattr(fetch, "SHIPPED_DELTA", shipped)
    monkeypatch.setenv("CODEPRM_CACHE", str(tmp_path / "cache"))
    with pytest.raises(NotFoundError, match="prm fetch"):
        load_prm("realfix", "cpu")  # the base is not fetched yet
    shutil.copytree(base, tmp_path / "cache" / fetch.CHECKPOINT_NAME)
    scorer, _ = load_prm("realfix", "cpu")
    assert scorer.path == shipped and scorer.checkpoint_hash == result.meta.weights_sha256
    assert scorer.features(STEPS) == load_scorer(result.path, "cpu", cache_size=0).features(STEPS)
    # the default stays the zero-shot base (its reward weights are the fitted ones)
    assert load_scorer(None, "cpu", cache_size=0).path == tmp_path / "cache" / fetch.CHECKPOINT_NAME
    monkeypatch.setattr(fetch, "SHIPPED_DELTA", tmp_path / "none")
    with pytest.raises(NotFoundError, match="ships no"):
        load_prm("realfix", "cpu")


def test_realfix_over_a_base_fetched_otherwise_is_refused(
    trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from codeprm.errors import NotFoundError
    from codeprm.prm import fetch
    from codeprm.prm.infer import default_checkpoint_dir, realfix_checkpoint_dir

    base, result = trained
    monkeypatch.setattr(fetch, "SHIPPED_DELTA", result.path)
    monkeypatch.setenv("CODEPRM_CACHE", str(tmp_path))
    other = shutil.copytree(base, tmp_path / fetch.CHECKPOINT_NAME)
    assert realfix_checkpoint_dir() == result.path and default_checkpoint_dir() == other
    data = bytearray((other / "model.safetensors").read_bytes())
    data[-1] ^= 1  # other weights (as a float32 fetch would have)
    (other / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(NotFoundError, match="another SmolLM2"):
        realfix_checkpoint_dir()
    assert default_checkpoint_dir() == other
