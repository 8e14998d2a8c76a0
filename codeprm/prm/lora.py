"""Low-rank weight deltas (LoRA) in plain torch: train them, save them small, merge them exactly.

Why: a fine-tuned copy of the default PRM is ~270 MB and cannot ship with codeprm; its
difference from the verified base can. Training wraps chosen ``nn.Linear`` projections of
the top decoder layers with ``W x + s * B (A x)`` (``A`` seeded, ``B`` zero: training starts
at the base model) and freezes everything else. The delta file holds ``A`` and ``B`` only
(float32 safetensors, a few MB), with its rank, scale, layers and the base weights' sha256
in the file's metadata.

Merging is ``W' = float32(float64(W) + s * float64(B) @ float64(A))``: computed in float64 and
rounded once, so it gives the same bits whatever the thread count or BLAS summation order,
on the transformers model (training, ``from_pretrained``) and in ``prm.llama``'s loader
alike. Scoring then runs the merged weights: no extra cost per token.

No IO here except ``save_delta`` / ``load_delta``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codeprm.prm.runtime import require_torch

torch = require_torch()
nn = torch.nn

DELTA_FILE = "delta.safetensors"
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
TARGETS = ATTENTION + MLP


@dataclass(frozen=True, slots=True)
class LoraSpec:
    rank: int = 8
    alpha: float = 16.0
    #: decoder layers that get adapters (the top ones: backward stops below them)
    layers: tuple[int, ...] = ()
    targets: tuple[str, ...] = TARGETS
    seed: int = 0

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["layers"] = list(self.layers)
        out["targets"] = list(self.targets)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoraSpec:
        return cls(
            rank=int(data["rank"]),
            alpha=float(data["alpha"]),
            layers=tuple(int(x) for x in data["layers"]),
            targets=tuple(str(x) for x in data["targets"]),
            seed=int(data.get("seed", 0)),
        )


def top_layers(total: int, count: int) -> tuple[int, ...]:
    return tuple(range(max(0, total - count), total))


def weight_key(layer: int, target: str) -> str:
    """The state-dict key of a target's weight in a Llama checkpoint."""
    group = "self_attn" if target in ATTENTION else "mlp"
    return f"model.layers.{layer}.{group}.{target}.weight"


class LoraLinear(nn.Module):
    """A frozen ``nn.Linear`` (no bias) plus a trainable low-rank update."""

    def __init__(self, base: Any, rank: int, scale: float, generator: Any) -> None:
        super().__init__()
        self.base = base
        out_features, in_features = base.weight.shape
        a = torch.empty(rank, in_features, dtype=torch.float32)
        # PEFT's default: kaiming-uniform A (a=sqrt(5)), zero B
        bound = 1.0 / math.sqrt(in_features)
        a.uniform_(-bound, bound, generator=generator)
        self.lora_A = nn.Parameter(a.to(base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(out_features, rank, device=base.weight.device))
        self.scale = scale

    def forward(self, x: Any) -> Any:
        return (
            self.base(x) + (x @ self.lora_A.to(x.dtype).T @ self.lora_B.to(x.dtype).T) * self.scale
        )


def _module(model: Any, layer: int, target: str) -> tuple[Any, str]:
    block = model.model.layers[layer]
    parent = block.self_attn if target in ATTENTION else block.mlp
    return parent, target


def add_lora(model: Any, spec: LoraSpec) -> int:
    """Wrap the spec's projections of a transformers Llama model; freeze the rest. Returns the
    number of trainable parameters."""
    for p in model.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(spec.seed)
    count = 0
    for layer in spec.layers:
        for target in spec.targets:
            parent, name = _module(model, layer, target)
            base = getattr(parent, name)
            if getattr(base, "bias", None) is not None:
                raise ValueError(f"{weight_key(layer, target)} has a bias: LoRA here is bias-free")
            wrapped = LoraLinear(base, spec.rank, spec.scale, gen)
            setattr(parent, name, wrapped)
            count += wrapped.lora_A.numel() + wrapped.lora_B.numel()
    return count


def lora_state(model: Any, spec: LoraSpec) -> dict[str, Any]:
    """The adapters as ``{<weight key>.lora_A / .lora_B: float32 tensor}``."""
    out: dict[str, Any] = {}
    for layer in spec.layers:
        for target in spec.targets:
            parent, name = _module(model, layer, target)
            mod = getattr(parent, name)
            key = weight_key(layer, target)
            out[key + ".lora_A"] = mod.lora_A.detach().to("cpu", torch.float32).contiguous()
            out[key + ".lora_B"] = mod.lora_B.detach().to("cpu", torch.float32).contiguous()
    return out


def merged_weight(weight: Any, a: Any, b: Any, scale: float) -> Any:
    """``float32(float64(W) + scale * B @ A)``: one rounding, the same bits on any thread count."""
    w = weight.detach().to("cpu", torch.float64)
    delta = b.to(torch.float64) @ a.to(torch.float64)
    return (w + scale * delta).to(torch.float32)


def merge_state(state: dict[str, Any], delta: Mapping[str, Any], spec: LoraSpec) -> None:
    """Merge a delta into a checkpoint's weights dict in place (the loader's path)."""
    for layer in spec.layers:
        for target in spec.targets:
            key = weight_key(layer, target)
            state[key] = merged_weight(
                state[key], delta[key + ".lora_A"], delta[key + ".lora_B"], spec.scale
            )


def merge_into_model(model: Any, spec: LoraSpec, delta: Mapping[str, Any] | None = None) -> None:
    """Replace adapters (or, with ``delta``, plain projections) by merged ``nn.Linear`` weights.

    The model must hold float32 weights (``from_pretrained(dtype=float32)``)."""
    for layer in spec.layers:
        for target in spec.targets:
            parent, name = _module(model, layer, target)
            mod = getattr(parent, name)
            key = weight_key(layer, target)
            if isinstance(mod, LoraLinear):
                base, a, b = mod.base, mod.lora_A, mod.lora_B
            else:
                if delta is None:
                    raise ValueError(f"{key} has no adapter and no delta was given")
                base, a, b = mod, delta[key + ".lora_A"], delta[key + ".lora_B"]
            new = merged_weight(base.weight, a, b, spec.scale).to(base.weight.device)
            with torch.no_grad():
                base.weight = nn.Parameter(new, requires_grad=False)
            setattr(parent, name, base)


def delta_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def save_delta(path: Path, state: Mapping[str, Any], spec: LoraSpec, base_sha256: str) -> str:
    """Write the adapters (sorted keys, float32) with the spec and the base's hash; its sha256."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    metadata = {
        "codeprm_lora": json.dumps(spec.to_json(), sort_keys=True),
        "base_weights_sha256": base_sha256,
    }
    save_file({k: state[k].contiguous() for k in sorted(state)}, str(tmp), metadata=metadata)
    tmp.replace(path)
    return delta_sha256(path)


def load_delta(path: Path) -> tuple[dict[str, Any], LoraSpec, str]:
    """(adapters, spec, the base weights' sha256 they were trained on) from a delta file."""
    from safetensors import safe_open

    tensors: dict[str, Any] = {}
    with safe_open(str(path), framework="pt") as fh:
        metadata = fh.metadata() or {}
        for key in fh.keys():  # noqa: SIM118  (safe_open is not a mapping)
            tensors[key] = fh.get_tensor(key)
    if "codeprm_lora" not in metadata:
        raise ValueError(f"{path} is not a codeprm LoRA delta (no codeprm_lora metadata)")
    spec = LoraSpec.from_json(json.loads(metadata["codeprm_lora"]))
    for layer in spec.layers:
        for target in spec.targets:
            key = weight_key(layer, target)
            if key + ".lora_A" not in tensors or key + ".lora_B" not in tensors:
                raise ValueError(f"{path} lacks the adapters of {key}")
    return tensors, spec, metadata.get("base_weights_sha256", "")


def delta_parameters(spec: LoraSpec, shapes: Sequence[tuple[int, int]]) -> int:
    return sum(spec.rank * (o + i) for o, i in shapes)
