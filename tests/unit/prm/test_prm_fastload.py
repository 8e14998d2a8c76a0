"""The scoring-only Llama (``prm.llama``) against transformers' from_pretrained path: the same
bits for fixed inputs (model outputs, tokens, step features), the fallback for what it does not
run, and a cold scorer that imports neither transformers nor torch._dynamo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from codeprm.prm import llama  # noqa: E402
from codeprm.prm.checkpoint import load_checkpoint  # noqa: E402
from codeprm.prm.fetch import default_dest  # noqa: E402
from codeprm.prm.infer import Scorer, load_scorer  # noqa: E402
from codeprm.prm.records import StepInput  # noqa: E402
from codeprm.prm.runtime import make_deterministic  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


def tiny_llama(path: Path, mined, *, tied: bool, kv_heads: int, **extra: object) -> Path:
    """A random tiny Llama causal LM plus a locally trained tokenizer, saved the HF way."""
    import transformers

    from codeprm.prm.train import train_tokenizer

    tok = train_tokenizer([r.after for r in mined[:300]], vocab_size=600)
    config = transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=kv_heads, max_position_embeddings=512,
        pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        tie_word_embeddings=tied, **extra,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    if tied:
        model.tie_weights()
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module", params=[(True, 2), (False, 4)], ids=["tied-gqa", "untied-mha"])
def tiny(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, mined) -> Path:
    tied, kv = request.param
    return tiny_llama(tmp_path_factory.mktemp("llama") / "lm", mined, tied=tied, kv_heads=kv)


def both(path: Path) -> tuple[tuple, tuple]:
    make_deterministic()
    fast = load_checkpoint(path, "cpu", for_scoring=True)
    slow = load_checkpoint(path, "cpu")
    assert isinstance(fast[0], llama.LlamaForScoring)
    assert not isinstance(slow[0], llama.LlamaForScoring)
    return fast, slow


def equal(a, b) -> bool:  # type: ignore[no-untyped-def]
    return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))


def test_decoder_outputs_are_bit_identical(tiny: Path) -> None:
    (fm, ft, _), (hm, ht, _) = both(tiny)
    assert ft.get_vocab() == ht.get_vocab() and len(ft) == len(ht)
    assert (ft.pad_token_id, ft.bos_token_id, ft.eos_token_id) == (
        ht.pad_token_id,
        ht.bos_token_id,
        ht.eos_token_id,
    )
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, len(ft), (1, 40), generator=g)
    with torch.inference_mode():
        # whole rows (is_causal), then on a cache: a code row (boolean mask) and one token
        f, h = (
            fm.get_decoder()(input_ids=ids[:, :30], use_cache=True),
            hm.get_decoder()(input_ids=ids[:, :30], use_cache=True),
        )
        assert equal(f.last_hidden_state, h.last_hidden_state)
        for piece in (ids[:, 30:39], ids[:, 39:]):
            f2 = fm.get_decoder()(
                input_ids=piece, past_key_values=f.past_key_values, use_cache=True
            )
            h2 = hm.get_decoder()(
                input_ids=piece, past_key_values=h.past_key_values, use_cache=True
            )
            assert equal(f2.last_hidden_state, h2.last_hidden_state)
        f.past_key_values.crop(-10)
        h.past_key_values.crop(-10)
        assert f.past_key_values.get_seq_length() == h.past_key_values.get_seq_length() == 30
        f3 = fm.get_decoder()(
            input_ids=ids[:, 5:12], past_key_values=f.past_key_values, use_cache=True
        )
        h3 = hm.get_decoder()(
            input_ids=ids[:, 5:12], past_key_values=h.past_key_values, use_cache=True
        )
        assert equal(f3.last_hidden_state, h3.last_hidden_state)
        # right-padded batch with an attention mask (the batched path)
        mask = torch.ones((3, 40), dtype=torch.long)
        mask[1, 25:] = 0
        mask[2, 7:] = 0
        batch = torch.randint(0, len(ft), (3, 40), generator=g)
        f4 = fm.get_decoder()(input_ids=batch, attention_mask=mask).last_hidden_state
        h4 = hm.get_decoder()(input_ids=batch, attention_mask=mask).last_hidden_state
        assert equal(f4[mask.bool()], h4[mask.bool()])
        head_f, head_h = fm.get_output_embeddings(), hm.get_output_embeddings()
        assert equal(head_f(f4), head_h(f4))


def test_step_features_are_bit_identical(tiny: Path, mined) -> None:
    (fm, ft, meta), (hm, ht, _) = both(tiny)
    steps = [r.to_input() for r in mined[:16]]
    steps.append(StepInput(steps[0].before, steps[0].before))
    for text in [s.after for s in steps] + ["héllo wörld \t\n  x = 'ü'  # 😀", ""]:
        assert (
            ft(text, add_special_tokens=False)["input_ids"]
            == ht(text, add_special_tokens=False)["input_ids"]
        )
    for batch_size in (1, 4):  # the CPU default (shared prefixes, KV caches) and padded batches
        fast = Scorer(fm, ft, meta, device="cpu", batch_size=batch_size)
        slow = Scorer(hm, ht, meta, device="cpu", batch_size=batch_size)
        assert fast.features(steps) == slow.features(steps)
        assert fast.score(steps) == slow.score(steps)


def test_what_it_does_not_run_loads_through_transformers(tmp_path: Path, mined) -> None:
    scaled = tiny_llama(
        tmp_path / "scaled",
        mined,
        tied=False,
        kv_heads=4,
        rope_scaling={"rope_type": "linear", "factor": 2.0},
    )
    assert not llama.supported(scaled, "zero-shot")
    model, _, _ = load_checkpoint(scaled, "cpu", for_scoring=True)
    assert not isinstance(model, llama.LlamaForScoring)
    plain = tiny_llama(tmp_path / "plain", mined, tied=True, kv_heads=2)
    assert llama.supported(plain, "zero-shot") and not llama.supported(plain, "classifier")


def test_make_deterministic_sets_the_flag_without_dynamo() -> None:
    code = (
        "import sys, torch\n"
        "from codeprm.prm.runtime import make_deterministic\n"
        "make_deterministic()\n"
        "assert torch.are_deterministic_algorithms_enabled()\n"
        "assert torch.is_deterministic_algorithms_warn_only_enabled()\n"
        "assert 'torch._dynamo' not in sys.modules, 'dynamo'\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def test_a_cold_scorer_imports_neither_transformers_nor_dynamo(tiny: Path) -> None:
    code = (
        "import json, sys\n"
        "from codeprm.prm import load_scorer\n"
        "from codeprm.prm.records import StepInput\n"
        f"s = load_scorer({str(tiny)!r}, 'cpu')\n"
        "p = s.score([StepInput('def f(x):\\n    return x\\n', 'def f(x):\\n    return -x\\n')])\n"
        "heavy = [m for m in ('transformers', 'torch._dynamo', 'torch.distributed.tensor') if m in sys.modules]\n"
        "print(json.dumps({'p': p, 'heavy': heavy, 'parameters': s.describe()['parameters']}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # nothing from torch or transformers reaches the terminal
    out = json.loads(proc.stdout)
    assert out["heavy"] == [] and 0 < out["p"][0] < 1
    assert out["parameters"] == sum(p.numel() for p in load_checkpoint(tiny, "cpu")[0].parameters())
    assert (
        load_scorer(tiny, "cpu").score(
            [StepInput("def f(x):\n    return x\n", "def f(x):\n    return -x\n")]
        )
        == out["p"]
    )


@pytest.mark.slow
@pytest.mark.skipif(
    not (default_dest() / "config.json").is_file(),
    reason="no SmolLM2 checkpoint: run 'codeprm prm fetch'",
)
def test_smollm2_scores_are_those_of_from_pretrained() -> None:
    """The default PRM: the README demo's candidates score the same bits either way."""
    (fm, ft, meta), (hm, ht, _) = both(default_dest())
    base = (REPO / "examples/demo/shop/stats.py").read_text()
    lines = (REPO / "examples/demo_candidates.jsonl").read_text().splitlines()
    afters = [json.loads(line)["new_text"] for line in lines if line.strip()]
    steps = [
        StepInput(base, a, context="import os\n", task="fix the average", path="shop/stats.py")
        for a in afters
    ]
    for text in [base, *afters]:
        assert (
            ft(text, add_special_tokens=False)["input_ids"]
            == ht(text, add_special_tokens=False)["input_ids"]
        )
    assert ft.get_vocab() == ht.get_vocab()
    for batch_size in (1, 3):
        fast = Scorer(fm, ft, meta, device="cpu", batch_size=batch_size).features(steps)
        assert fast == Scorer(hm, ht, meta, device="cpu", batch_size=batch_size).features(steps)
