"""A Llama causal LM for scoring only, in plain torch: what ``transformers`` runs, op for op.

Why: importing ``transformers.models.llama`` pulls in ``torch._dynamo``,
``torch.distributed.tensor`` and FSDP (about 5 s of a cold ``codeprm rank`` on two cores),
and ``from_pretrained``'s generic path costs seconds more. Scoring needs none of it: a
zero-shot Llama checkpoint (SmolLM2, the default) is read here straight from its
safetensors and ``tokenizer.json``, with only ``torch``, ``safetensors`` and ``tokenizers``.

Bit-identical to ``transformers``' LlamaForCausalLM with ``attn_implementation="sdpa"`` in
eval mode (tested on fixed inputs, tests/unit/prm/test_prm_fastload.py): the same kernels
in the same order, the same masks (``is_causal`` where transformers skips the mask, else
the same boolean mask) and the same grouped-query attention dispatch. It implements only
what ``codeprm.prm.model`` calls: ``get_decoder()(input_ids, attention_mask,
past_key_values, use_cache)`` -> ``.last_hidden_state`` / ``.past_key_values`` (a cache
with ``get_seq_length`` and negative ``crop``), ``get_output_embeddings()``, ``config``.
Anything else (another architecture, rope scaling, biases, a classifier, training) is
loaded by ``checkpoint.load_checkpoint``'s transformers path; ``supported`` decides.

No IO here except ``load``, which reads the files of one checkpoint directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeprm.prm.runtime import require_torch

torch = require_torch()
nn = torch.nn
F = torch.nn.functional

#: tokenizer classes whose saved ``tokenizer.json`` is exactly what transformers runs
_PLAIN_TOKENIZERS = (
    "TokenizersBackend",
    "PreTrainedTokenizerFast",
    "GPT2Tokenizer",
    "GPT2TokenizerFast",
)


@dataclass(frozen=True, slots=True)
class LlamaSpec:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    tie_word_embeddings: bool
    pad_token_id: int | None
    #: read by ``model.supports_prefix_cache`` / ``code_logprob``
    final_logit_softcapping: None = None


def _rope_theta(config: dict[str, Any]) -> float | None:
    params = config.get("rope_parameters")
    if isinstance(params, dict):
        if params.get("rope_type", "default") != "default" or set(params) - {
            "rope_type",
            "rope_theta",
        }:
            return None
        theta = params.get("rope_theta")
    else:
        if config.get("rope_scaling"):
            return None
        theta = config.get("rope_theta", 10000.0)
    return float(theta) if isinstance(theta, int | float) else None


def spec_of(config: dict[str, Any]) -> LlamaSpec | None:
    """The spec of a plain Llama causal LM config, or None when this module cannot run it."""
    archs = config.get("architectures") or ["LlamaForCausalLM"]
    theta = _rope_theta(config)
    if (
        config.get("model_type") != "llama"
        or archs != ["LlamaForCausalLM"]
        or config.get("hidden_act", "silu") != "silu"
        or config.get("attention_bias", False)
        or config.get("mlp_bias", False)
        or config.get("pretraining_tp", 1) != 1
        or theta is None
    ):
        return None
    try:
        heads = int(config["num_attention_heads"])
        hidden = int(config["hidden_size"])
        return LlamaSpec(
            vocab_size=int(config["vocab_size"]),
            hidden_size=hidden,
            intermediate_size=int(config["intermediate_size"]),
            num_hidden_layers=int(config["num_hidden_layers"]),
            num_attention_heads=heads,
            num_key_value_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=int(config.get("head_dim") or hidden // heads),
            rms_norm_eps=float(config.get("rms_norm_eps", 1e-6)),
            rope_theta=theta,
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            pad_token_id=config.get("pad_token_id"),
        )
    except (KeyError, TypeError, ValueError):
        return None


def supported(directory: Path, kind: str) -> bool:
    """Whether ``load`` can run this checkpoint (else: transformers' ``from_pretrained``)."""
    directory = Path(directory)
    if kind != "zero-shot" or not (directory / "tokenizer.json").is_file():
        return False
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        tok_config = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if tok_config.get("tokenizer_class", "PreTrainedTokenizerFast") not in _PLAIN_TOKENIZERS:
        return False
    if "add_prefix_space" in tok_config or tok_config.get("backend", "tokenizers") != "tokenizers":
        return False
    return spec_of(config) is not None


# --------------------------------------------------------------------------- tokenizer


class Tokenizer:
    """The part of a transformers fast tokenizer that scoring uses, on ``tokenizers`` alone."""

    def __init__(self, directory: Path) -> None:
        from tokenizers import Tokenizer as Backend

        self._tok = Backend.from_file(str(Path(directory) / "tokenizer.json"))
        config = json.loads((Path(directory) / "tokenizer_config.json").read_text(encoding="utf-8"))
        self.bos_token_id = self._special_id(config.get("bos_token"))
        self.eos_token_id = self._special_id(config.get("eos_token"))
        self.pad_token_id = self._special_id(config.get("pad_token"))
        self.unk_token_id = self._special_id(config.get("unk_token"))

    def _special_id(self, token: Any) -> int | None:
        if isinstance(token, dict):
            token = token.get("content")
        if not isinstance(token, str):
            return None
        return self._tok.token_to_id(token)

    def get_vocab(self) -> dict[str, int]:
        return dict(self._tok.get_vocab(with_added_tokens=True))

    def __len__(self) -> int:
        return int(self._tok.get_vocab_size(with_added_tokens=True))

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        if add_special_tokens:
            raise NotImplementedError("codeprm scores text without special tokens")
        return {"input_ids": self.encode(text)}


# --------------------------------------------------------------------------- model


class KVCache:
    """Keys and values per layer, grown by concatenation; ``crop(-n)`` drops the last n."""

    def __init__(self, layers: int) -> None:
        self.keys: list[Any] = [None] * layers
        self.values: list[Any] = [None] * layers

    def get_seq_length(self, layer_idx: int = 0) -> int:
        keys = self.keys[layer_idx]
        return 0 if keys is None or keys.numel() == 0 else int(keys.shape[-2])

    def update(self, key: Any, value: Any, layer: int) -> tuple[Any, Any]:
        if self.keys[layer] is None:
            self.keys[layer] = torch.tensor([], dtype=key.dtype, device=key.device)
            self.values[layer] = torch.tensor([], dtype=value.dtype, device=value.device)
        self.keys[layer] = torch.cat([self.keys[layer], key], dim=-2)
        self.values[layer] = torch.cat([self.values[layer], value], dim=-2)
        return self.keys[layer], self.values[layer]

    def crop(self, tokens_to_remove: int) -> None:
        if tokens_to_remove > 0:
            raise ValueError("crop takes a negative number of tokens to remove")
        if tokens_to_remove == 0:
            return
        for i, keys in enumerate(self.keys):
            if keys is not None:
                self.keys[i] = keys[..., : -abs(tokens_to_remove), :]
                self.values[i] = self.values[i][..., : -abs(tokens_to_remove), :]


@dataclass
class DecoderOutput:
    last_hidden_state: Any
    past_key_values: KVCache | None

    @property
    def cache(self) -> KVCache | None:
        return self.past_key_values


Weights = dict[str, Any]


class Linear(nn.Module):
    """``nn.Linear(bias=False)`` around given weights: built without an initialisation
    (random init costs time, and on the meta device it imports torch._dynamo)."""

    def __init__(self, weight: Any) -> None:
        super().__init__()
        # a Parameter already (the tied embeddings) stays that one: counted once
        self.weight = (
            weight
            if isinstance(weight, nn.Parameter)
            else nn.Parameter(weight, requires_grad=False)
        )

    def forward(self, x: Any) -> Any:
        return F.linear(x, self.weight)


class RMSNorm(nn.Module):
    def __init__(self, weight: Any, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.variance_epsilon = eps

    def forward(self, hidden: Any) -> Any:
        dtype = hidden.dtype
        hidden = hidden.to(torch.float32)
        variance = hidden.pow(2).mean(-1, keepdim=True)
        hidden = hidden * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden.to(dtype)


def _rotate_half(x: Any) -> Any:
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def _repeat_kv(hidden: Any, n_rep: int) -> Any:
    batch, heads, length, dim = hidden.shape
    if n_rep == 1:
        return hidden
    hidden = hidden[:, :, None, :, :].expand(batch, heads, n_rep, length, dim)
    return hidden.reshape(batch, heads * n_rep, length, dim)


class Attention(nn.Module):
    def __init__(self, spec: LlamaSpec, layer: int, w: Weights, prefix: str) -> None:
        super().__init__()
        self.layer = layer
        self.head_dim = spec.head_dim
        self.groups = spec.num_attention_heads // spec.num_key_value_heads
        self.scaling = self.head_dim**-0.5
        self.q_proj = Linear(w.pop(prefix + "q_proj.weight"))
        self.k_proj = Linear(w.pop(prefix + "k_proj.weight"))
        self.v_proj = Linear(w.pop(prefix + "v_proj.weight"))
        self.o_proj = Linear(w.pop(prefix + "o_proj.weight"))

    def forward(self, hidden: Any, cos: Any, sin: Any, mask: Any, cache: KVCache | None) -> Any:
        input_shape = hidden.shape[:-1]
        shape = (*input_shape, -1, self.head_dim)
        q = self.q_proj(hidden).view(shape).transpose(1, 2)
        k = self.k_proj(hidden).view(shape).transpose(1, 2)
        v = self.v_proj(hidden).view(shape).transpose(1, 2)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        q, k = (q * cos) + (_rotate_half(q) * sin), (k * cos) + (_rotate_half(k) * sin)
        if cache is not None:
            k, v = cache.update(k, v, self.layer)
        # transformers' sdpa_attention_forward: GQA inside SDPA when there is no mask
        kwargs: dict[str, Any] = {}
        q_length = q.shape[2]
        if self.groups > 1:
            if mask is None and k.shape[-1] == v.shape[-1] <= 256:
                kwargs["enable_gqa"] = True
            elif q_length == 1:
                q = q.reshape(q.shape[0], q.shape[1] // self.groups, self.groups, q.shape[-1])
                if mask is not None and mask.shape[1] != 1:
                    mask = mask.reshape(
                        mask.shape[0], mask.shape[1] // self.groups, self.groups, mask.shape[-1]
                    )
            else:
                k, v = _repeat_kv(k, self.groups), _repeat_kv(v, self.groups)
        is_causal = q_length > 1 and mask is None
        if is_causal and k.shape[2] > q_length:
            k, v = k[:, :, :q_length, :], v[:, :, :q_length, :]
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=0.0,
            scale=self.scaling,
            is_causal=is_causal,
            **kwargs,
        )
        out = out.reshape(out.shape[0], -1, q_length, v.shape[-1]).transpose(1, 2).contiguous()
        return self.o_proj(out.reshape(*input_shape, -1).contiguous())


class MLP(nn.Module):
    def __init__(self, w: Weights, prefix: str) -> None:
        super().__init__()
        self.gate_proj = Linear(w.pop(prefix + "gate_proj.weight"))
        self.up_proj = Linear(w.pop(prefix + "up_proj.weight"))
        self.down_proj = Linear(w.pop(prefix + "down_proj.weight"))

    def forward(self, x: Any) -> Any:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, spec: LlamaSpec, layer: int, w: Weights) -> None:
        super().__init__()
        prefix = f"model.layers.{layer}."
        self.self_attn = Attention(spec, layer, w, prefix + "self_attn.")
        self.mlp = MLP(w, prefix + "mlp.")
        self.input_layernorm = RMSNorm(w.pop(prefix + "input_layernorm.weight"), spec.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(
            w.pop(prefix + "post_attention_layernorm.weight"), spec.rms_norm_eps
        )

    def forward(self, hidden: Any, cos: Any, sin: Any, mask: Any, cache: KVCache | None) -> Any:
        hidden = hidden + self.self_attn(self.input_layernorm(hidden), cos, sin, mask, cache)
        return hidden + self.mlp(self.post_attention_layernorm(hidden))


def _causal_mask(attention_mask: Any, q_length: int, kv_length: int, q_offset: int) -> Any:
    """None where transformers lets SDPA's ``is_causal`` do it, else its boolean mask."""
    padding = None
    if attention_mask is not None:
        padding = attention_mask.bool()
        if padding.shape[-1] < kv_length:
            padding = F.pad(padding, (0, kv_length - padding.shape[-1]))
        elif padding.shape[-1] > kv_length:
            padding = padding[:, :kv_length]
    all_real = padding is None or bool(padding.all())
    if (q_length == 1 or kv_length == q_length) and all_real:
        return None
    if q_offset == 0 and (
        padding is None
        or (bool(padding[:, :q_length].all()) and not bool(padding[:, q_length:].any()))
    ):
        return None
    device = attention_mask.device if attention_mask is not None else None
    q_idx = (torch.arange(q_length, device=device) + q_offset)[None, None, :, None]
    kv_idx = torch.arange(kv_length, device=device)[None, None, None, :]
    mask = kv_idx <= q_idx
    if padding is not None:
        mask = mask & padding[:, None, None, :]
    batch = padding.shape[0] if padding is not None else 1
    return mask.expand(batch, -1, q_length, kv_length)


class LlamaDecoder(nn.Module):
    def __init__(self, spec: LlamaSpec, w: Weights) -> None:
        super().__init__()
        self.spec = spec
        self.embed_weight = nn.Parameter(w.pop("model.embed_tokens.weight"), requires_grad=False)
        self.layers = nn.ModuleList(
            [DecoderLayer(spec, i, w) for i in range(spec.num_hidden_layers)]
        )
        self.norm = RMSNorm(w.pop("model.norm.weight"), spec.rms_norm_eps)
        inv_freq = 1.0 / (
            spec.rope_theta
            ** (torch.arange(0, spec.head_dim, 2, dtype=torch.float) / spec.head_dim)
        )
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(
        self,
        input_ids: Any,
        attention_mask: Any = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
        cache: KVCache | None = None,
    ) -> DecoderOutput:
        cache = cache if cache is not None else past_key_values
        hidden = F.embedding(input_ids, self.embed_weight)
        if use_cache and cache is None:
            cache = KVCache(self.spec.num_hidden_layers)
        past = cache.get_seq_length() if cache is not None else 0
        q_length = hidden.shape[1]
        position_ids = (torch.arange(q_length, device=hidden.device) + past).unsqueeze(0)
        mask = _causal_mask(attention_mask, q_length, past + q_length, past)
        freqs = position_ids[..., None].float() * self.inv_freq.to(
            device=hidden.device, dtype=torch.float
        )
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = (emb.cos() * 1.0).to(hidden.dtype), (emb.sin() * 1.0).to(hidden.dtype)
        for layer in self.layers:
            hidden = layer(hidden, cos, sin, mask, cache)
        return DecoderOutput(self.norm(hidden), cache)


@dataclass
class _Logits:
    logits: Any


class LlamaForScoring(nn.Module):
    """Decoder + LM head; ``model.py``'s scoring functions call it as they call transformers'."""

    def __init__(self, spec: LlamaSpec, w: Weights) -> None:
        super().__init__()
        self.config = spec
        self.model = LlamaDecoder(spec, w)
        # tied: the very tensor of the embeddings, as transformers ties them
        self.lm_head = Linear(
            self.model.embed_weight if spec.tie_word_embeddings else w.pop("lm_head.weight")
        )
        if w:
            raise ValueError(f"weights a Llama model does not have: {sorted(w)[:3]}")

    def get_decoder(self) -> LlamaDecoder:
        return self.model

    def get_output_embeddings(self) -> Any:
        return self.lm_head

    def forward(self, input_ids: Any, attention_mask: Any = None) -> _Logits:
        return _Logits(self.lm_head(self.model(input_ids, attention_mask).last_hidden_state))


def load(
    directory: Path, device: str = "cpu", *, delta: tuple[Any, Any] | None = None
) -> tuple[LlamaForScoring, Tokenizer]:
    """(model in eval mode, float32, on ``device``; tokenizer) from a checkpoint ``supported``
    accepts.

    ``delta``: (adapters, ``lora.LoraSpec``) merged into the float32 weights first
    (``lora.merge_state``: the same bits as merging into the transformers model)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    spec = spec_of(json.loads((directory / "config.json").read_text(encoding="utf-8")))
    if spec is None:
        raise ValueError(f"{directory} is not a plain Llama causal LM")
    state: Weights = {}
    for path in sorted(directory.glob("*.safetensors")):
        state.update(load_file(str(path)))
    if spec.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # transformers ignores it too
    weights = {k: v.to(torch.float32) for k, v in state.items()}
    if delta is not None:
        from codeprm.prm import lora

        lora.merge_state(weights, delta[0], delta[1])
    try:
        model = LlamaForScoring(spec, weights)
    except KeyError as err:
        raise ValueError(f"{directory}: no {err.args[0]} among the weights") from err
    model.to(device)
    model.eval()
    return model, Tokenizer(directory)
