"""Score edit steps with a PRM checkpoint: batching, an LRU cache of unchanged inputs, calibration.

``load_scorer(path, device)`` returns a ``Scorer`` whose ``score(steps)`` gives calibrated
probabilities that each step is good. On CPU a plain Llama checkpoint (SmolLM2, the
default) is loaded by ``prm.llama`` without transformers: the same bits, a faster cold start.
Deterministic: eval mode, no dropout, deterministic
kernels, float32 on CPU. On CPU the default batch size is 1, so that a row's floating-point
result depends on that row alone: a step's score is then bit-identical whatever it was
scored with (padded batches change the last bits). On two cores batch 1 is also the
fastest for SmolLM2 (5.9 vs 3.6 candidates/s from one state; the tiny model gains 1.5x from
batching, benchmarks/prm_throughput.py). On CUDA rows are batched (16, bf16 autocast) for
throughput.

Caching, keyed by sha256 of the exact model input: a step's result; the KV cache of the
last few prefixes (task + context), so unchanged context around the edit is not
recomputed. For the zero-shot kind on one row at a time (the CPU default), the code
*before* a step, shared by every candidate proposed from one state, is run once, and each
candidate's code *after* only from the first token where it differs (the shared tokens
cancel in the log-likelihood ratio): about 2.3x faster for candidates spread over a
function (``model.shared_prefix_deltas``). Batched rows (CUDA) score each (prefix, code)
row whole.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from codeprm.errors import NotFoundError
from codeprm.prm.checkpoint import CheckpointMeta, is_delta_checkpoint, load_checkpoint
from codeprm.prm.records import StepInput
from codeprm.prm.runtime import make_deterministic, require_torch, resolve_device
from codeprm.prm.text import classifier_text, lm_prefix

T = TypeVar("T")


class LRU:
    """A small least-recently-used map."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.data: OrderedDict[str, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any | None:
        if key in self.data:
            self.data.move_to_end(key)
            self.hits += 1
            return self.data[key]
        self.misses += 1
        return None

    def put(self, key: str, value: Any) -> None:
        if self.capacity <= 0:
            return
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.capacity:
            self.data.popitem(last=False)


def _key(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()


def start_token_id(tokenizer: Any) -> int:
    """The token a zero-shot LM reads before the text: a document separator if it has one."""
    vocab = tokenizer.get_vocab()
    for token in ("<|endoftext|>", "</s>", "<s>"):
        if token in vocab:
            return int(vocab[token])
    for tid in (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id):
        if tid is not None:
            return int(tid)
    return 0


class Scorer:
    """Calibrated step scores from one loaded checkpoint."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        meta: CheckpointMeta,
        *,
        device: str,
        path: Path | None = None,
        batch_size: int | None = None,
        cache_size: int = 4096,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.meta = meta
        self.device = device
        self.path = path
        if batch_size is None:
            batch_size = 16 if device.startswith("cuda") else 1
        self.batch_size = max(1, batch_size)
        self.cache = LRU(cache_size)
        #: KV caches of recent prefixes (contexts): a few MB each, so only a handful
        self.prefix_cache = LRU(8 if cache_size > 0 else 0)
        self.pad_id = int(
            tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else start_token_id(tokenizer)
        )
        self.start_id = (
            int(meta.start_token_id)
            if meta.start_token_id is not None
            else start_token_id(tokenizer)
        )
        self.model_key = meta.weights_sha256 + f"/{meta.kind}/{meta.max_length}/{self.start_id}"
        self.sequences_run = 0
        self.load_seconds = 0.0

    # identity --------------------------------------------------------------
    @property
    def checkpoint_hash(self) -> str:
        """sha256 over the checkpoint's safetensors files (sorted): record it with a reward."""
        return self.meta.weights_sha256

    @property
    def scoring_hash(self) -> str:
        """sha256 over the weights hash, calibration and input format: all a score depends on."""
        return self.meta.scoring_hash()

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path else None,
            "kind": self.meta.kind,
            "checkpoint_hash": self.checkpoint_hash,
            "scoring_hash": self.scoring_hash,
            "calibration": self.meta.calibration.to_json(),
            "device": self.device,
            "max_length": self.meta.max_length,
            "format_version": self.meta.format_version,
            "base_model": dict(self.meta.base_model),
            "metrics": dict(self.meta.metrics),
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }

    # scoring ---------------------------------------------------------------
    def features(self, steps: Sequence[StepInput]) -> list[tuple[float, ...]]:
        """The raw features of each step that the calibration maps to a probability."""
        if self.meta.kind == "classifier":
            return [(v,) for v in self._classifier_logits(steps)]
        return self._zero_shot_features(steps)

    def logits(self, steps: Sequence[StepInput]) -> list[float]:
        """Calibrated log-odds that each step is good (the ranking score)."""
        cal = self.meta.calibration
        return [cal.logit(x) for x in self.features(steps)]

    def score(self, steps: Sequence[StepInput]) -> list[float]:
        """Calibrated probability, for each step, that it is a good step."""
        cal = self.meta.calibration
        return [cal.probability(x) for x in self.features(steps)]

    # internals -------------------------------------------------------------
    def _run(self, rows: list[list[int]], fn: Any, extra: list[Any] | None = None) -> list[float]:
        """Run ``fn`` over rows in length-sorted batches; returns one float per row in order."""
        torch = require_torch()
        from codeprm.prm.model import pad_batch
        from codeprm.prm.runtime import autocast, autocast_dtype

        order = sorted(range(len(rows)), key=lambda i: (len(rows[i]), i))
        out: list[float] = [0.0] * len(rows)
        with torch.inference_mode(), autocast(self.device, autocast_dtype(self.device)):
            for b in range(0, len(order), self.batch_size):
                idx = order[b : b + self.batch_size]
                ids, mask = pad_batch([rows[i] for i in idx], self.pad_id, self.device)
                args = [extra[i] for i in idx] if extra is not None else None
                values = fn(ids, mask, args).double().cpu().tolist()
                for i, v in zip(idx, values, strict=True):
                    out[i] = float(v)
                self.sequences_run += len(idx)
        return out

    def _run_with_prefix_cache(self, rows: list[list[int]], starts: list[int]) -> list[float]:
        """One row at a time; the KV cache of each distinct prefix (context) is computed once
        and kept in a small LRU, so unchanged context is not recomputed across calls."""
        torch = require_torch()
        from codeprm.prm.model import continuation_logprob

        out = []
        with torch.inference_mode():
            for row, start in zip(rows, starts, strict=True):
                state = self._prefix_state(row[:start])
                out.append(float(continuation_logprob(self.model, state, row[start:], self.device)))
                self.sequences_run += 1
        return out

    def _prefix_state(self, prefix: list[int]) -> Any:
        """The KV cache of a prefix (context), from the small LRU or computed once."""
        from codeprm.prm.model import prefix_state

        key = _key(self.model_key, "prefix", ",".join(map(str, prefix)))
        state = self.prefix_cache.get(key)
        if state is None:
            state = prefix_state(self.model, prefix, self.device)
            self.prefix_cache.put(key, state)
        return state

    def _split_cached(
        self, keys: Sequence[str], items: Sequence[T]
    ) -> tuple[dict[str, Any], dict[str, T]]:
        """(cached results by key, the items still to compute by key: each key once)."""
        results: dict[str, Any] = {}
        todo: dict[str, T] = {}
        for k, item in zip(keys, items, strict=True):
            hit = self.cache.get(k)
            if hit is not None:
                results[k] = hit
            else:
                todo.setdefault(k, item)
        return results, todo

    def _classifier_logits(self, steps: Sequence[StepInput]) -> list[float]:
        from codeprm.prm.model import classifier_logits

        texts = [classifier_text(s) for s in steps]
        keys = [_key(self.model_key, t) for t in texts]
        results, todo = self._split_cached(keys, texts)
        if todo:
            todo_keys = list(todo)
            rows = [self._encode_classifier(todo[k]) for k in todo_keys]
            values = self._run(rows, lambda ids, mask, _: classifier_logits(self.model, ids, mask))
            for k, v in zip(todo_keys, values, strict=True):
                self.cache.put(k, v)
                results[k] = v
        return [results[k] for k in keys]

    def _encode_classifier(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [self.start_id, *ids][: self.meta.max_length]

    def _zero_shot_features(self, steps: Sequence[StepInput]) -> list[tuple[float, ...]]:
        from codeprm.prm.model import supports_prefix_cache

        if self.batch_size == 1 and supports_prefix_cache(self.model):
            return self._zero_shot_shared(steps)
        return self._zero_shot_rows(steps)

    def _tokens(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []

    def _zero_shot_shared(self, steps: Sequence[StepInput]) -> list[tuple[float, ...]]:
        """One row at a time with the context's KV cache, the code before run once per
        state, and each code after only from where it leaves the code before."""
        torch = require_torch()
        from codeprm.prm.model import lm_rows, shared_prefix_deltas

        prefixes = [lm_prefix(s) for s in steps]
        keys = [
            _key(self.model_key, "pair", p, s.before, s.after)
            for p, s in zip(prefixes, steps, strict=True)
        ]
        results, todo_steps = self._split_cached(keys, list(zip(prefixes, steps, strict=True)))
        groups: dict[tuple[str, str], dict[str, str]] = {}
        for k, (p, s) in todo_steps.items():
            groups.setdefault((p, s.before), {})[k] = s.after
        fallback_keys: list[str] = []
        with torch.inference_mode():
            for (prefix, before), todo in groups.items():
                prefix_ids, before_ids = self._tokens(prefix), self._tokens(before)
                row_b, start = lm_rows(prefix_ids, before_ids, self.start_id, self.meta.max_length)
                shared: dict[str, list[int]] = {}
                for k, after in todo.items():
                    after_ids = self._tokens(after)
                    row_a, start_a = lm_rows(
                        prefix_ids, after_ids, self.start_id, self.meta.max_length
                    )
                    # near the length limit the prefix is cut per code: no shared cache then
                    if (
                        row_a[:start_a] == row_b[:start]
                        and len(row_b) - start == len(before_ids)
                        and len(row_a) - start_a == len(after_ids)
                    ):
                        shared[k] = after_ids
                    else:
                        fallback_keys.append(k)
                if not shared:
                    continue
                state = self._prefix_state(row_b[:start])
                deltas = shared_prefix_deltas(
                    self.model, state, before_ids, list(shared.values()), self.device
                )
                self.sequences_run += 1 + len(shared)
                for (k, after_ids), delta in zip(shared.items(), deltas, strict=True):
                    entry = (delta, float(len(after_ids) - len(before_ids)))
                    self.cache.put(k, entry)
                    results[k] = entry
        if fallback_keys:
            for k, feats in zip(
                fallback_keys,
                self._zero_shot_rows([todo_steps[k][1] for k in fallback_keys]),
                strict=True,
            ):
                entry = (feats[0], feats[1])
                self.cache.put(k, entry)
                results[k] = entry
        return [results[k] for k in keys]

    def _zero_shot_rows(self, steps: Sequence[StepInput]) -> list[tuple[float, ...]]:
        """Each (prefix, code) row scored whole: batched, or one at a time on the context's
        cache."""
        from codeprm.prm.model import code_logprob, lm_rows, supports_prefix_cache

        pairs: list[tuple[str, str]] = []
        for s in steps:
            prefix = lm_prefix(s)
            pairs.append((prefix, s.before))
            pairs.append((prefix, s.after))
        keys = [_key(self.model_key, p, c) for p, c in pairs]
        results, todo = self._split_cached(keys, pairs)
        if todo:
            todo_keys = list(todo)
            rows: list[list[int]] = []
            starts: list[int] = []
            for k in todo_keys:
                prefix, code = todo[k]
                prefix_ids = (
                    self.tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
                )
                code_ids = self.tokenizer(code, add_special_tokens=False)["input_ids"]
                row, start = lm_rows(prefix_ids, code_ids, self.start_id, self.meta.max_length)
                rows.append(row)
                starts.append(start)
            if self.batch_size == 1 and supports_prefix_cache(self.model):
                values = self._run_with_prefix_cache(rows, starts)
            else:
                values = self._run(
                    rows,
                    lambda ids, mask, st: code_logprob(self.model, ids, mask, st),
                    extra=starts,
                )
            for k, v, row, st in zip(todo_keys, values, rows, starts, strict=True):
                entry = (v, len(row) - st)
                self.cache.put(k, entry)
                results[k] = entry
        out = []
        for i in range(len(steps)):
            (lp_b, n_b), (lp_a, n_a) = results[keys[2 * i]], results[keys[2 * i + 1]]
            out.append((lp_a - lp_b, float(n_a - n_b)))
        return out


def default_checkpoint_dir() -> Path:
    """The default PRM: the fetched SmolLM2 (zero-shot), whose reward weights were fitted and
    measured on real bugs (``combiner`` in its metadata)."""
    from codeprm.prm.fetch import default_dest

    return default_dest()


def realfix_checkpoint_dir() -> Path:
    """``--prm realfix``: the delta shipped with codeprm (fine-tuned on real fixes) over the
    fetched SmolLM2. Not the default: no combiner is fitted for it on data it was not
    trained on, and it pays a little for text-only additions (docstrings); see the README."""
    from codeprm.prm.checkpoint import read_meta, weights_sha256
    from codeprm.prm.fetch import default_dest, shipped_delta

    base, delta = default_dest(), shipped_delta()
    if delta is None:
        raise NotFoundError("this codeprm ships no fine-tuned delta (--prm realfix)")
    if not (base / "config.json").is_file():
        raise NotFoundError(
            f"no fetched SmolLM2 in {base} for the realfix delta: run 'codeprm prm fetch' first"
        )
    meta, fetched = read_meta(delta), read_meta(base)
    have = (
        fetched.weights_sha256
        if fetched is not None and fetched.weights_sha256
        else weights_sha256(base)
    )
    if meta is None or meta.delta.get("base_weights_sha256") != have:
        raise NotFoundError(
            "the realfix delta was trained on another SmolLM2 conversion (run 'codeprm "
            "prm fetch --force' with the default dtype)"
        )
    return delta


def load_scorer(
    path: str | Path | None = None,
    device: str = "auto",
    *,
    batch_size: int | None = None,
    cache_size: int = 4096,
) -> Scorer:
    """A scorer from a local checkpoint directory (None: the default,
    ``default_checkpoint_dir``)."""
    if path is None:
        path = default_checkpoint_dir()  # the fetched base when it is missing
        if not (Path(path) / "config.json").is_file() and not is_delta_checkpoint(Path(path)):
            raise NotFoundError(
                f"no default PRM checkpoint in {path}: run 'codeprm prm fetch' first "
                "(or pass a checkpoint directory)"
            )
    path = Path(path).expanduser()
    dev = resolve_device(device)
    make_deterministic()
    t0 = time.perf_counter()
    model, tokenizer, meta = load_checkpoint(path, dev, for_scoring=True)
    scorer = Scorer(
        model, tokenizer, meta, device=dev, path=path, batch_size=batch_size, cache_size=cache_size
    )
    scorer.load_seconds = time.perf_counter() - t0
    return scorer
