"""PRM model pieces: the tiny from-scratch configuration, batching, log-likelihood and losses.

No IO: nothing here reads or writes files (``checkpoint.py`` does). Imported only on demand,
since it imports torch and transformers.

Two kinds of model:

- ``zero-shot``: a causal LM. The step's features are ``(delta_ll, delta_tokens)``:
  ``log p(after | prefix) - log p(before | prefix)`` summed over the code tokens, and the
  difference in their token counts. The calibration maps them to a probability, so the
  length correction (shorter code looks likelier) is learned with it.
- ``classifier``: a sequence-classification model reading ``text.classifier_text``; the
  feature is its single logit.

Both can be trained with a Bradley-Terry loss on good/bad steps of the same bug; the
classifier adds binary cross-entropy.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from codeprm.prm.runtime import require_torch, require_transformers

# transformers 5.x deprecates the keyword its 4.x releases need (``past_key_values``); the
# call is right for every supported version, and the warning must not reach the user
warnings.filterwarnings(
    "ignore", message=r".*past_key_values.* is deprecated", category=FutureWarning
)

torch = require_torch()
F = torch.nn.functional

KINDS = ("zero-shot", "classifier")
FEATURES = {"zero-shot": ("delta_ll", "delta_tokens"), "classifier": ("logit",)}


@dataclass(frozen=True, slots=True)
class TinyConfig:
    """Size of the from-scratch model used by the tests and the CPU benchmark."""

    hidden: int = 128
    layers: int = 2
    heads: int = 4
    intermediate: int = 256
    max_length: int = 384
    vocab_size: int = 4096


def tiny_classifier(
    tiny: TinyConfig, *, vocab_size: int, pad_id: int, bos_id: int, eos_id: int
) -> Any:
    """A small Llama sequence classifier with a single output (the step's logit)."""
    transformers = require_transformers()
    config = transformers.LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=tiny.hidden,
        intermediate_size=tiny.intermediate,
        num_hidden_layers=tiny.layers,
        num_attention_heads=tiny.heads,
        num_key_value_heads=tiny.heads,
        max_position_embeddings=tiny.max_length,
        pad_token_id=pad_id,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        num_labels=1,
        tie_word_embeddings=False,
        attention_dropout=0.0,
    )
    config._attn_implementation = "sdpa"
    return transformers.LlamaForSequenceClassification(config)


# --------------------------------------------------------------------------- batching


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int, device: str) -> tuple[Any, Any]:
    """Right-padded ``input_ids`` and ``attention_mask`` tensors."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids.to(device), mask.to(device)


def lm_rows(
    prefix_ids: Sequence[int], code_ids: Sequence[int], start_id: int, max_length: int
) -> tuple[list[int], int]:
    """``[start] + prefix + code`` cut to ``max_length`` (prefix cut from the left first);
    returns the row and the index where the scored code tokens begin."""
    budget = max_length - 1 - len(code_ids)
    if budget < 0:
        code_ids = code_ids[: max_length - 1]
        budget = 0
    prefix = list(prefix_ids[len(prefix_ids) - budget :]) if budget else []
    row = [start_id, *prefix, *code_ids]
    return row, 1 + len(prefix)


def code_logprob(model: Any, ids: Any, mask: Any, starts: Sequence[int]) -> Any:
    """Sum over each row of ``log p(token)`` for the tokens from ``starts[i]`` to its end.

    Runs the decoder once and applies the LM head only at the scored positions, so long
    prefixes and large vocabularies cost no full ``(batch, length, vocab)`` logits.
    """
    lengths = mask.sum(dim=1)
    width = ids.shape[1]
    pos = torch.arange(width, device=ids.device).unsqueeze(0)
    start_t = torch.tensor(list(starts), device=ids.device).unsqueeze(1)
    # position t predicts token t+1: select predictors of tokens start..length-1
    target_mask = (pos + 1 >= start_t) & (pos + 1 < lengths.unsqueeze(1))
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    head = model.get_output_embeddings()
    if (
        decoder is not None
        and head is not None
        and not getattr(model.config, "final_logit_softcapping", None)
    ):
        hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
        sel = hidden[target_mask]
        logits = head(sel).float()
    else:
        logits = model(input_ids=ids, attention_mask=mask).logits[target_mask].float()
    targets = ids[:, 1:]
    targets = torch.cat([targets, torch.zeros_like(targets[:, :1])], dim=1)[target_mask]
    token_lp = -F.cross_entropy(logits, targets, reduction="none")
    row_of = torch.arange(ids.shape[0], device=ids.device).unsqueeze(1).expand_as(ids)[target_mask]
    out = torch.zeros(ids.shape[0], dtype=token_lp.dtype, device=ids.device)
    return out.index_add(0, row_of, token_lp)


def prefix_state(model: Any, prefix_ids: Sequence[int], device: str) -> tuple[Any, Any]:
    """Run the decoder over a prefix once: (its KV cache, its last hidden state)."""
    ids = torch.tensor([list(prefix_ids)], dtype=torch.long, device=device)
    out = model.get_decoder()(input_ids=ids, use_cache=True)
    return out.past_key_values, out.last_hidden_state[:, -1:]


def continuation_logprob(
    model: Any, state: tuple[Any, Any], code_ids: Sequence[int], device: str
) -> Any:
    """``sum log p(code | prefix)`` reusing the prefix's KV cache (restored afterwards).

    The computation for a code row depends only on (prefix, code), never on other rows, so
    a score is the same whichever steps it was scored with.
    """
    past, last_hidden = state
    if not code_ids:
        return torch.zeros((), dtype=torch.float32, device=device)
    ids = torch.tensor([list(code_ids)], dtype=torch.long, device=device)
    try:
        out = model.get_decoder()(input_ids=ids, past_key_values=past, use_cache=True)
    finally:
        past.crop(-len(code_ids))  # negative: drop the code tokens again (any version)
    hidden = torch.cat([last_hidden, out.last_hidden_state[:, :-1]], dim=1)[0]
    logits = model.get_output_embeddings()(hidden).float()
    return -F.cross_entropy(logits, ids[0], reduction="sum")


def _crop_to(past: Any, length: int) -> None:
    """Keep the first ``length`` positions of a KV cache (negative crops work in every version)."""
    extra = past.get_seq_length() - length
    if extra > 0:
        past.crop(-extra)


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def shared_prefix_deltas(
    model: Any,
    state: tuple[Any, Any],
    before_ids: Sequence[int],
    afters: Sequence[Sequence[int]],
    device: str,
) -> list[float]:
    """``log p(after | prefix) - log p(before | prefix)`` for each ``after`` of one ``before``.

    The code before is run once (per-token log-probabilities and its KV cache kept); each
    code after is run only from the first token where it leaves the code before: the
    tokens they share have the same log-probabilities and cancel. For a one-line edit in
    a function this halves the work on average.

    A delta depends only on (prefix, before, after): the code before is always run whole
    on the prefix's cache, an after always from its own divergence point on that same
    cache (cropped in place, from the longest shared prefix down, and restored).
    """
    past, last_hidden = state
    base = past.get_seq_length()
    if not before_ids:
        return [float(continuation_logprob(model, state, a, device)) for a in afters]
    decoder = model.get_decoder()
    head = model.get_output_embeddings()
    ids_b = torch.tensor([list(before_ids)], dtype=torch.long, device=device)
    out: list[float] = [0.0] * len(afters)
    try:
        run_b = decoder(input_ids=ids_b, past_key_values=past, use_cache=True)
        # row i of ``predictors`` predicts before token i; the last row predicts what follows
        predictors = torch.cat([last_hidden, run_b.last_hidden_state], dim=1)[0]
        lp_b = -F.cross_entropy(head(predictors[:-1]).float(), ids_b[0], reduction="none")
        splits = [common_prefix_length(before_ids, a) for a in afters]
        for j in sorted(range(len(afters)), key=lambda j: (-splits[j], j)):
            d, suffix = splits[j], list(afters[j][splits[j] :])
            lost = lp_b[d:].sum()
            if not suffix:
                out[j] = float(-lost)
                continue
            _crop_to(past, base + d)
            ids_a = torch.tensor([suffix], dtype=torch.long, device=device)
            run_a = decoder(input_ids=ids_a, past_key_values=past, use_cache=True)
            hidden = torch.cat(
                [predictors[d : d + 1].unsqueeze(0), run_a.last_hidden_state[:, :-1]], dim=1
            )[0]
            gained = -F.cross_entropy(head(hidden).float(), ids_a[0], reduction="sum")
            out[j] = float(gained - lost)
    finally:
        _crop_to(past, base)
    return out


def supports_prefix_cache(model: Any) -> bool:
    """Whether the model has a plain decoder + LM head (logit soft-capping models do not)."""
    return (
        hasattr(model, "get_decoder")
        and model.get_output_embeddings() is not None
        and not getattr(model.config, "final_logit_softcapping", None)
    )


def classifier_logits(model: Any, ids: Any, mask: Any) -> Any:
    """One logit per row, read at the row's last real token (whatever the pad token is)."""
    base = getattr(model, getattr(model, "base_model_prefix", "model"), None)
    head = getattr(model, "score", None)
    if base is None or head is None:
        return model(input_ids=ids, attention_mask=mask).logits[:, 0].float()
    hidden = base(input_ids=ids, attention_mask=mask).last_hidden_state
    last = mask.sum(dim=1) - 1
    pooled = hidden[torch.arange(ids.shape[0], device=ids.device), last]
    return head(pooled)[:, 0].float()


# --------------------------------------------------------------------------- losses


def pairwise_loss(scores: Any, labels: Any, groups: Any) -> Any:
    """Bradley-Terry: mean over (good, bad) pairs of one group of ``-log sigmoid(s_good - s_bad)``.

    Stays on the device (no ``.item()``): a batch without pairs gives a zero loss.
    """
    good = labels.bool()
    pair = (groups.unsqueeze(1) == groups.unsqueeze(0)) & good.unsqueeze(1) & ~good.unsqueeze(0)
    margin = scores.unsqueeze(1) - scores.unsqueeze(0)
    losses = F.softplus(-margin) * pair
    return losses.sum() / pair.sum().clamp(min=1)


def classifier_loss(logits: Any, labels: Any, groups: Any, bt_weight: float) -> Any:
    """Binary cross-entropy plus ``bt_weight`` times the pairwise loss."""
    bce = F.binary_cross_entropy_with_logits(logits, labels.float())
    if bt_weight:
        return bce + bt_weight * pairwise_loss(logits, labels, groups)
    return bce
