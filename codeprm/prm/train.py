"""Train and calibrate PRM checkpoints: tokenizer training, the training loop, evaluation.

One code path for CPU (float32) and GPU (bf16 autocast, SDPA attention, fused AdamW). The
loop never syncs with the host except every ``log_every`` steps: the loss is accumulated on
the device. Batches are drawn bug by bug so that each holds the good and bad steps of the
same bug, which the pairwise (Bradley-Terry) term needs.

Kinds:
- ``classifier``: a sequence classifier (the tiny from-scratch model, or any local HF
  checkpoint with a new one-logit head) trained with BCE + ``bt_weight`` * pairwise loss.
- ``zero-shot``: a causal LM. With ``steps=0`` only the calibration (including the length
  correction) is fitted; with ``steps>0`` the LM is fine-tuned with the pairwise loss on its
  calibrated log-likelihood score, then recalibrated.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codeprm.errors import UsageError
from codeprm.prm.calibrate import Calibration, fit_platt, quality
from codeprm.prm.checkpoint import (
    DEFAULT_ZERO_SHOT,
    CheckpointMeta,
    load_checkpoint,
    save_checkpoint,
)
from codeprm.prm.data import is_held_out
from codeprm.prm.infer import Scorer, start_token_id
from codeprm.prm.records import StepRecord, group_by_bug
from codeprm.prm.runtime import (
    autocast,
    autocast_dtype,
    make_deterministic,
    require_torch,
    require_transformers,
    resolve_device,
)
from codeprm.prm.text import classifier_text

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")


@dataclass(frozen=True, slots=True)
class TrainConfig:
    kind: str = "classifier"
    steps: int = 200
    max_seconds: float | None = None
    batch_bugs: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 20
    bt_weight: float = 1.0
    max_length: int = 384
    #: crop training rows to this many tokens (None: max_length); scoring keeps max_length.
    #: Rows are padded to the longest in a batch, so a few long contexts cost every row.
    train_length: int | None = None
    seed: int = 0
    device: str = "auto"
    #: auto (bf16 autocast on a GPU, float32 on CPU), bf16 or fp32 (runtime.autocast_dtype)
    precision: str = "auto"
    log_every: int = 10
    #: length-bucketed batches (bugs of similar length together: less padding)
    bucket: bool = True
    grad_clip: float = 1.0
    calibration_max: int = 2000
    #: tiny from-scratch model (used when no base model is given)
    tiny_hidden: int = 128
    tiny_layers: int = 2
    tiny_heads: int = 4
    tiny_vocab: int = 4096
    tokenizer_texts: int = 4000
    #: > 0 (``--kind zero-shot``): train only rank-``lora_rank`` adapters (``prm.lora``) on the
    #: top ``lora_layers`` decoder layers and save a small delta checkpoint over the base
    lora_rank: int = 0
    lora_alpha: float = 16.0
    lora_layers: int = 8
    #: "all" (attention and MLP projections), "attention" or "mlp"
    lora_targets: str = "all"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    path: Path
    meta: CheckpointMeta
    losses: list[float] = field(default_factory=list)
    steps_done: int = 0
    seconds: float = 0.0
    rows_seen: int = 0


def train_tokenizer(texts: Sequence[str], vocab_size: int = 4096) -> Any:
    """A byte-level BPE tokenizer trained on ``texts`` (no download), as a transformers
    tokenizer."""
    require_transformers()
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )


def _split(records: Sequence[StepRecord], name: str) -> list[StepRecord]:
    return [r for r in records if r.split == name]


def _bug_batches(
    records: Sequence[StepRecord],
    batch_bugs: int,
    seed: int,
    lengths: Sequence[int] | None = None,
    pool_batches: int = 32,
) -> Any:
    """Endless batches of record indices, ``batch_bugs`` whole bugs at a time, reshuffled per epoch.

    With ``lengths`` (tokens per record), batches are length-bucketed: each epoch's shuffled
    bugs are sorted by length within pools of ``pool_batches`` batches, cut into batches, and
    the batches shuffled. A batch is padded to its longest row, so this cuts the padding
    (1.81x the real tokens at 16 bugs per batch on mined stdlib steps, 1.06x bucketed).
    """
    groups = [g for g in group_by_bug(records).values()]
    rng = random.Random(seed)
    while True:
        order = groups[:]
        rng.shuffle(order)
        if lengths is not None:
            size = batch_bugs * pool_batches
            order = [
                g
                for p in range(0, len(order), size)
                for g in sorted(order[p : p + size], key=lambda g: max(lengths[j] for j in g))
            ]
        cuts = range(0, len(order) - batch_bugs + 1 if len(order) >= batch_bugs else 1, batch_bugs)
        batches = [[j for g in order[i : i + batch_bugs] for j in g] for i in cuts]
        if lengths is not None:
            rng.shuffle(batches)  # no short-to-long sweep inside an epoch
        yield from batches


def _schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def evaluate(scorer: Scorer, records: Sequence[StepRecord]) -> dict[str, float]:
    """AUROC, ECE and best-of-N top-1 of a scorer on records."""
    steps = [r.to_input() for r in records]
    feats = scorer.features(steps)
    cal = scorer.meta.calibration
    logits = [cal.logit(x) for x in feats]
    probs = [cal.probability(x) for x in feats]
    return quality(logits, [r.label for r in records], [r.bug_id for r in records], probs)


def fit_calibration(
    scorer: Scorer, records: Sequence[StepRecord], *, split: str, limit: int
) -> Calibration:
    """Platt scaling on (at most ``limit``) records of our own held-out split, whole bugs only."""
    groups = list(group_by_bug(records).values())
    chosen: list[StepRecord] = []
    for g in groups:
        if len(chosen) + len(g) > limit:
            break
        chosen.extend(records[i] for i in g)
    if not chosen or len({r.label for r in chosen}) < 2:
        raise UsageError("calibration needs held-out records with both good and bad steps")
    feats = scorer.features([r.to_input() for r in chosen])
    names = scorer.meta.calibration.features
    return fit_platt(
        feats,
        [r.label for r in chosen],
        names,
        fitted_on={"split": split, "records": len(chosen), "bugs": len({r.bug_id for r in chosen})},
    )


def _stored_dtype(directory: Path) -> str | None:
    import json

    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = config.get("dtype") or config.get("torch_dtype")
    return str(value) if value else None


def _data_recipe(
    records: Sequence[StepRecord], recipe: dict[str, Any] | None, sources: frozenset[str]
) -> dict[str, Any]:
    from codeprm.prm.data import summarize

    out = dict(recipe or {})
    out["summary"] = summarize(records)
    out["train_sources"] = sorted(sources)
    return out


def _inherited_sources(base_model: Path | None) -> frozenset[str]:
    from codeprm.prm.checkpoint import read_meta

    meta = read_meta(Path(base_model)) if base_model is not None else None
    return meta.trained_sources if meta is not None else frozenset()


def train(
    records: Sequence[StepRecord],
    out: Path,
    config: TrainConfig,
    *,
    base_model: Path | None = None,
    data_recipe: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train (or only calibrate) a PRM on ``records`` and save a checkpoint in ``out``."""
    torch = require_torch()
    transformers = require_transformers()
    if config.kind not in ("classifier", "zero-shot"):
        raise UsageError(f"unknown PRM kind {config.kind!r} (classifier or zero-shot)")
    say = progress or (lambda _msg: None)
    device = resolve_device(config.device)
    make_deterministic(config.seed)
    random.seed(config.seed)
    train_recs = _split(records, "train")
    held = _split(records, "valid") or _split(records, "test")
    held_name = "valid" if _split(records, "valid") else "test"
    if config.steps > 0 and not train_recs:
        raise UsageError("no records in the train split")
    used = [*(train_recs if config.steps > 0 else ()), *held]  # trained or calibrated on
    leaked = sorted(
        {r.source_path or r.bug_id for r in used if is_held_out(r.source_path, r.bug_id)}
    )
    if leaked:
        raise UsageError(
            f"{len(leaked)} source(s) to train or calibrate on belong to HumanEval, HumanEvalFix "
            f"or QuixBugs, which are reserved for evaluation (first: {leaked[0]}); drop them"
        )
    if not held:
        raise UsageError("no held-out (valid or test) records to calibrate on")

    # ---- model and tokenizer
    if config.kind == "classifier":
        if base_model is None:
            from codeprm.prm.model import TinyConfig, tiny_classifier

            texts = [classifier_text(r.to_input()) for r in train_recs[: config.tokenizer_texts]]
            tokenizer = train_tokenizer(texts, config.tiny_vocab)
            tiny = TinyConfig(
                hidden=config.tiny_hidden,
                layers=config.tiny_layers,
                heads=config.tiny_heads,
                intermediate=2 * config.tiny_hidden,
                max_length=config.max_length,
                vocab_size=len(tokenizer),
            )
            model = tiny_classifier(
                tiny,
                vocab_size=len(tokenizer),
                pad_id=tokenizer.pad_token_id,
                bos_id=tokenizer.bos_token_id,
                eos_id=tokenizer.eos_token_id,
            )
            base_info: dict[str, Any] = {"name": "tiny-from-scratch", **asdict(tiny)}
        else:
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                base_model, local_files_only=True
            )
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                base_model,
                num_labels=1,
                local_files_only=True,
                dtype=torch.float32,
                attn_implementation="sdpa",
            )
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            model.config.pad_token_id = tokenizer.pad_token_id
            base_info = {"path": str(base_model)}
        meta = CheckpointMeta(
            kind="classifier",
            calibration=Calibration(("logit",), (1.0,), 0.0),
            max_length=config.max_length,
            start_token_id=start_token_id(tokenizer),
            base_model=base_info,
        )
    else:
        if base_model is None:
            raise UsageError("--kind zero-shot needs --model (a causal LM checkpoint directory)")
        model, tokenizer, old = load_checkpoint(base_model, "cpu")
        if old.kind != "zero-shot":
            raise UsageError(f"{base_model} is a {old.kind} checkpoint, not a causal LM")
        cal = (
            old.calibration
            if old.calibration.features == DEFAULT_ZERO_SHOT.features
            else DEFAULT_ZERO_SHOT
        )
        # new weights: the base's fitted reward weights (combiner) do not carry over; refit them
        meta = old.with_(calibration=cal, max_length=config.max_length, combiner={}, delta={})
        meta = meta.with_(base_model={**dict(old.base_model), "path": str(base_model)})
    lora_spec = None
    if config.lora_rank > 0:
        lora_spec = _add_lora(model, config, base_model)
        say(
            f"LoRA rank {config.lora_rank} on layers {list(lora_spec.layers)}: "
            f"{sum(p.numel() for p in model.parameters() if p.requires_grad)} trainable parameters"
        )
    model.to(device)

    # ---- training
    losses: list[float] = []
    t0 = time.perf_counter()
    steps_done = rows_seen = tokens_seen = 0
    padding = 1.0
    if config.steps > 0:
        scorer_for_rows = Scorer(model, tokenizer, meta, device=device, cache_size=0)
        losses, steps_done, rows_seen, tokens_seen, padding = _train_loop(
            model, scorer_for_rows, train_recs, config, device, say
        )
    seconds = time.perf_counter() - t0
    model.eval()
    delta = None
    if lora_spec is not None:
        from codeprm.prm import lora

        model.to("cpu")
        delta = lora.lora_state(model, lora_spec)
        lora.merge_into_model(model, lora_spec)  # score (and calibrate) what the loader will run
        model.to(device)

    # ---- calibration and metrics on our own held-out split
    scorer = Scorer(model, tokenizer, meta, device=device, batch_size=32)
    calibration = fit_calibration(scorer, held, split=held_name, limit=config.calibration_max)
    meta = meta.with_(calibration=calibration)
    scorer.meta = meta
    metrics = evaluate(scorer, held[: config.calibration_max])
    say(f"held-out ({held_name}): " + ", ".join(f"{k}={v:.3f}" for k, v in metrics.items()))
    # what trained these weights, for leak checks: the base's sources plus this run's
    sources = _inherited_sources(base_model)
    if steps_done > 0:
        sources |= {r.source_path for r in train_recs if r.source_path}
    meta = meta.with_(
        metrics={f"{held_name}_{k}": v for k, v in metrics.items()},
        data_recipe=_data_recipe(records, data_recipe, sources),
        training={
            **config.to_json(),
            "device": device,
            "steps_done": steps_done,
            "seconds": round(seconds, 3),
            "rows_seen": rows_seen,
            "tokens_seen": tokens_seen,
            "padding": round(padding, 4),
            "final_loss": losses[-1] if losses else None,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            **({"lora": lora_spec.to_json()} if lora_spec is not None else {}),
        },
    )
    model.to("cpu")
    if delta is not None and lora_spec is not None and base_model is not None:
        from codeprm.prm.checkpoint import save_delta_checkpoint

        meta = save_delta_checkpoint(out, delta, lora_spec, meta, Path(base_model))
        return TrainResult(Path(out), meta, losses, steps_done, seconds, rows_seen)
    if steps_done == 0 and base_model is not None:
        # calibration only: keep the stored precision, so the weights (and their hash) stay
        # those of the base checkpoint (bf16 -> fp32 -> bf16 is exact)
        stored = _stored_dtype(Path(base_model))
        if stored in ("bfloat16", "float16"):
            model.to(getattr(torch, stored))
    meta = save_checkpoint(out, model, tokenizer, meta)
    return TrainResult(Path(out), meta, losses, steps_done, seconds, rows_seen)


def _add_lora(model: Any, config: TrainConfig, base_model: Path | None) -> Any:
    """Wrap the top layers' projections with adapters (``prm.lora``); the spec."""
    from codeprm.prm import lora
    from codeprm.prm.checkpoint import is_delta_checkpoint

    if config.kind != "zero-shot" or base_model is None:
        raise UsageError("LoRA training needs --kind zero-shot and a --model")
    if is_delta_checkpoint(Path(base_model)):
        raise UsageError("LoRA training needs a full base checkpoint, not a delta checkpoint")
    if config.steps <= 0:
        raise UsageError("LoRA training needs --steps > 0")
    targets = {"all": lora.TARGETS, "attention": lora.ATTENTION, "mlp": lora.MLP}.get(
        config.lora_targets
    )
    if targets is None:
        raise UsageError(
            f"--lora-targets must be all, attention or mlp, not {config.lora_targets!r}"
        )
    total = len(model.model.layers)
    spec = lora.LoraSpec(
        rank=config.lora_rank,
        alpha=config.lora_alpha,
        layers=lora.top_layers(total, min(config.lora_layers, total)),
        targets=targets,
        seed=config.seed,
    )
    lora.add_lora(model, spec)
    return spec


def _train_loop(
    model: Any,
    scorer: Scorer,
    records: Sequence[StepRecord],
    config: TrainConfig,
    device: str,
    say: Callable[[str], None],
) -> tuple[list[float], int, int, int, float]:
    """Train in place; (losses every ``log_every`` steps, steps done, rows seen, their
    tokens, tokens run per real token: the padding overhead)."""
    torch = require_torch()
    from codeprm.prm.model import (
        classifier_logits,
        classifier_loss,
        code_logprob,
        lm_rows,
        pad_batch,
        pairwise_loss,
    )
    from codeprm.prm.text import lm_prefix

    tok = scorer.tokenizer
    kind = scorer.meta.kind
    length = min(config.train_length or scorer.meta.max_length, scorer.meta.max_length)
    # tokenize once, up front
    if kind == "classifier":
        rows = [scorer._encode_classifier(classifier_text(r.to_input()))[:length] for r in records]
        starts = [0] * len(rows)
    else:
        rows, starts = [], []
        for r in records:
            s = r.to_input()
            prefix = lm_prefix(s)
            p_ids = tok(prefix, add_special_tokens=False)["input_ids"] if prefix else []
            c_ids = tok(s.after, add_special_tokens=False)["input_ids"]
            row, st = lm_rows(p_ids, c_ids, scorer.start_id, length)
            rows.append(row)
            starts.append(st)
    labels_all = [r.label for r in records]
    bug_index: dict[str, int] = {}
    groups_all = [bug_index.setdefault(r.bug_id, len(bug_index)) for r in records]

    model.train()
    for module in model.modules():  # no dropout anywhere: training noise comes from sampling
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    params = [p for p in model.parameters() if p.requires_grad]
    amp = autocast_dtype(device, config.precision)
    # the fused optimizer step (one kernel per parameter group) with the GPU configuration
    fused = device.startswith("cuda") or amp is not None
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, fused=fused)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(config.warmup, config.steps))
    cal = scorer.meta.calibration
    lengths = [len(r) for r in rows]
    batches = _bug_batches(
        records, config.batch_bugs, config.seed, lengths if config.bucket else None
    )
    padded = real = 0  # tokens run (padding included) and tokens of the rows themselves
    acc = torch.zeros((), device=device)
    losses: list[float] = []
    t0 = time.perf_counter()
    rows_seen = 0
    step = 0
    for step in range(config.steps):
        if config.max_seconds is not None and time.perf_counter() - t0 > config.max_seconds:
            break
        idx = next(batches)
        ids, mask = pad_batch([rows[i] for i in idx], scorer.pad_id, device)
        padded += len(idx) * max(lengths[i] for i in idx)
        real += sum(lengths[i] for i in idx)
        labels = torch.tensor([labels_all[i] for i in idx], device=device)
        groups = torch.tensor([groups_all[i] for i in idx], device=device)
        with autocast(device, amp):
            if kind == "classifier":
                logits = classifier_logits(model, ids, mask)
                loss = classifier_loss(logits, labels, groups, config.bt_weight)
            else:
                lp = code_logprob(model, ids, mask, [starts[i] for i in idx])
                n_tok = torch.tensor(
                    [len(rows[i]) - starts[i] for i in idx], device=device, dtype=lp.dtype
                )
                score = cal.weights[0] * lp + cal.weights[1] * n_tok
                loss = pairwise_loss(score, labels, groups)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sched.step()
        acc += loss.detach()
        rows_seen += len(idx)
        if (step + 1) % config.log_every == 0:
            losses.append(float(acc) / config.log_every)  # the only host sync
            acc.zero_()
            say(f"step {step + 1}: loss {losses[-1]:.4f} ({time.perf_counter() - t0:.1f}s)")
    else:
        step = config.steps
    return losses, step, rows_seen, real, (padded / real if real else 1.0)
