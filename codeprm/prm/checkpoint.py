"""Self-describing PRM checkpoints: HF ``save_pretrained`` files plus ``codeprm_prm.json``.

A checkpoint directory holds the model (``config.json`` + safetensors), its tokenizer, and
codeprm's metadata: schema version, kind, calibration, input format, data recipe, metrics,
training config, the fitted reward weights (``combiner``, optional) and ``weights_sha256`` (sha256
over the safetensors files, sorted by name),
which callers record next to every reward. Reading the metadata needs no torch; loading
the model does. A plain HF directory without metadata loads as an uncalibrated zero-shot
causal LM.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from codeprm import __version__
from codeprm.errors import NotFoundError, UsageError, VersionSkewError
from codeprm.prm.calibrate import Calibration
from codeprm.prm.records import canonical_json
from codeprm.prm.text import FORMAT_VERSION

META_FILE = "codeprm_prm.json"
CHECKPOINT_SCHEMA_VERSION = 1

#: The zero-shot calibration of a causal LM nobody calibrated (a plain HF directory): the
#: log-likelihood delta plus a length correction of ~1.7 nats per token, the ratio fitted
#: for SmolLM2 (see fetch.SMOLLM2_CALIBRATION); scale and bias are only rough guesses.
DEFAULT_ZERO_SHOT = Calibration(
    features=("delta_ll", "delta_tokens"),
    weights=(0.18, 0.30),
    bias=-1.0,
    method="platt",
    fitted_on={"note": "default, not fitted"},
)


@dataclass(frozen=True, slots=True)
class CheckpointMeta:
    kind: str
    calibration: Calibration
    max_length: int = 1024
    format_version: int = FORMAT_VERSION
    start_token_id: int | None = None
    base_model: Mapping[str, Any] = field(default_factory=dict)
    data_recipe: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""
    #: a delta checkpoint's provenance (``lora.py``): its file and sha256, the LoRA spec and
    #: the base weights' sha256; empty for a full checkpoint
    delta: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = CHECKPOINT_SCHEMA_VERSION
    #: the reward weights fitted for this checkpoint (``rewards.combiner.Combiner.to_json``):
    #: the defaults the commands use when the user gives none; {} for none fitted
    combiner: Mapping[str, Any] = field(default_factory=dict)
    created_by: str = f"codeprm {__version__}"

    @property
    def trained_sources(self) -> frozenset[str]:
        """The source files whose steps trained these weights (``data_recipe.train_sources``),
        inherited along fine-tuning chains: what an evaluation must keep out of its sets."""
        return frozenset(str(s) for s in self.data_recipe.get("train_sources", ()))

    def to_json(self) -> dict[str, Any]:
        out = {
            "schema_version": self.schema_version,
            "kind": self.kind,
            "calibration": self.calibration.to_json(),
            "max_length": self.max_length,
            "format_version": self.format_version,
            "start_token_id": self.start_token_id,
            "base_model": dict(self.base_model),
            "data_recipe": dict(self.data_recipe),
            "metrics": dict(self.metrics),
            "training": dict(self.training),
            "weights_sha256": self.weights_sha256,
            "created_by": self.created_by,
        }
        if self.combiner:  # only when fitted: metadata written before keeps its shape
            out["combiner"] = dict(self.combiner)
        if self.delta:  # only delta checkpoints carry it: full ones are written as before
            out["delta"] = dict(self.delta)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckpointMeta:
        version = data.get("schema_version")
        if version != CHECKPOINT_SCHEMA_VERSION:
            raise VersionSkewError(
                f"PRM checkpoint schema version {version} is not {CHECKPOINT_SCHEMA_VERSION}"
            )
        if data.get("format_version") != FORMAT_VERSION:
            raise VersionSkewError(
                f"PRM checkpoint input format {data.get('format_version')} is not {FORMAT_VERSION}"
            )
        if data.get("kind") not in ("zero-shot", "classifier"):
            raise UsageError(f"unknown PRM checkpoint kind {data.get('kind')!r}")
        return cls(
            kind=str(data["kind"]),
            calibration=Calibration.from_json(data["calibration"]),
            max_length=int(data.get("max_length", 1024)),
            format_version=int(data["format_version"]),
            start_token_id=data.get("start_token_id"),
            base_model=dict(data.get("base_model", {})),
            data_recipe=dict(data.get("data_recipe", {})),
            metrics=dict(data.get("metrics", {})),
            training=dict(data.get("training", {})),
            weights_sha256=str(data.get("weights_sha256", "")),
            delta=dict(data.get("delta", {})),
            schema_version=int(version),
            created_by=str(data.get("created_by", "")),
            combiner=dict(data.get("combiner") or {}),
        )

    def with_(self, **changes: Any) -> CheckpointMeta:
        return replace(self, **changes)

    def scoring_hash(self) -> str:
        """sha256 over the weights hash and everything else that changes a score."""
        relevant = {
            "weights_sha256": self.weights_sha256,
            "kind": self.kind,
            "calibration": {
                k: v for k, v in self.calibration.to_json().items() if k != "fitted_on"
            },
            "max_length": self.max_length,
            "format_version": self.format_version,
            "start_token_id": self.start_token_id,
        }
        return hashlib.sha256(canonical_json(relevant).encode()).hexdigest()


def weights_sha256(directory: Path) -> str:
    """sha256 over the safetensors files of a checkpoint, in sorted name order (names included)."""
    files = sorted(Path(directory).glob("*.safetensors"))
    if not files:
        raise NotFoundError(f"no *.safetensors weights in {directory}")
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def read_meta(directory: Path) -> CheckpointMeta | None:
    """The codeprm metadata of a checkpoint directory, or None for a plain HF directory."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UsageError(f"{path} is not JSON: {err.msg}") from err
    return CheckpointMeta.from_json(data)


def write_meta(directory: Path, meta: CheckpointMeta) -> None:
    path = Path(directory) / META_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(meta.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def save_checkpoint(
    directory: Path, model: Any, tokenizer: Any, meta: CheckpointMeta
) -> CheckpointMeta:
    """Write model, tokenizer and metadata (with the weights hash) into ``directory``.

    Written into a sibling temporary directory first and moved into place, so a reader never
    sees half a checkpoint.
    """
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".tmp-codeprm")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    meta = meta.with_(weights_sha256=weights_sha256(tmp))
    write_meta(tmp, meta)
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)
    return meta


def load_checkpoint(
    directory: Path, device: str = "cpu", *, for_scoring: bool = False
) -> tuple[Any, Any, CheckpointMeta]:
    """(model in eval mode on ``device``, tokenizer, metadata) from a local directory.

    ``for_scoring``: a plain Llama causal LM (SmolLM2, the default PRM) is loaded by
    ``prm.llama`` (torch, safetensors and tokenizers only; the same scores, bit for bit)
    instead of transformers, whose import and ``from_pretrained`` are most of a cold
    start. The model then only scores: it cannot be trained or saved. CPU only for now:
    bit-identity under CUDA's bf16 autocast is not yet checked on a GPU.
    """
    from codeprm.prm.runtime import require_transformers

    directory = Path(directory).expanduser()
    if is_delta_checkpoint(directory):
        return _load_delta_checkpoint(directory, device, for_scoring=for_scoring)
    if not (directory / "config.json").is_file():
        raise NotFoundError(f"no model checkpoint (config.json) in {directory}")
    meta = read_meta(directory)
    actual = weights_sha256(directory)
    if meta is None:
        meta = CheckpointMeta(
            kind="zero-shot",
            calibration=DEFAULT_ZERO_SHOT,
            base_model={"path": str(directory)},
            weights_sha256=actual,
        )
    elif meta.weights_sha256 and meta.weights_sha256 != actual:
        raise VersionSkewError(
            f"the weights in {directory} changed since its {META_FILE} was written "
            f"(recorded {meta.weights_sha256[:12]}, found {actual[:12]})"
        )
    meta = meta.with_(weights_sha256=actual)
    if for_scoring and device == "cpu":
        from codeprm.prm.runtime import require_torch

        require_torch()
        from codeprm.prm import llama

        if llama.supported(directory, meta.kind):
            try:
                model, tokenizer = llama.load(directory, device)
            except Exception as err:  # safetensors' and tokenizers' own errors too
                raise UsageError(f"cannot load the PRM checkpoint in {directory}: {err}") from err
            return model, tokenizer, meta
    transformers = require_transformers()
    torch = __import__("torch")
    auto = (
        transformers.AutoModelForCausalLM
        if meta.kind == "zero-shot"
        else transformers.AutoModelForSequenceClassification
    )
    try:
        model = auto.from_pretrained(
            directory, dtype=torch.float32, local_files_only=True, attn_implementation="sdpa"
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot load the PRM checkpoint in {directory}: {err}") from err
    model.to(device)
    model.eval()
    return model, tokenizer, meta


# --------------------------------------------------------------------------- delta checkpoints
#
# A delta checkpoint is a directory with ``codeprm_prm.json`` and ``delta.safetensors`` (LoRA
# adapters, ``lora.py``) and no model of its own: it names the base checkpoint's weights by
# sha256. Loading one loads the verified base and merges the delta into its weights (float64,
# rounded once: the same bits every time), so scoring runs at the base model's speed. Its
# ``weights_sha256`` is sha256 over the base's and the delta's hashes: what scores depend on.


def is_delta_checkpoint(directory: Path) -> bool:
    directory = Path(directory)
    return (directory / "delta.safetensors").is_file() and not (directory / "config.json").is_file()


def combined_sha256(base_sha256: str, delta_sha256: str) -> str:
    return hashlib.sha256(f"base:{base_sha256}\ndelta:{delta_sha256}\n".encode()).hexdigest()


def delta_base_dir(meta: CheckpointMeta) -> Path:
    """Where a delta checkpoint's base is: its recorded path when that holds the right weights,
    else the fetched default (``codeprm prm fetch``)."""
    from codeprm.prm.fetch import default_dest

    want = str(meta.delta.get("base_weights_sha256", ""))
    recorded = meta.base_model.get("path")
    candidates = [Path(str(recorded)).expanduser()] if recorded else []
    candidates.append(default_dest())
    for path in candidates:
        if (path / "config.json").is_file():
            m = read_meta(path)
            found = m.weights_sha256 if m is not None and m.weights_sha256 else weights_sha256(path)
            if found == want:
                return path
    return candidates[-1]


def save_delta_checkpoint(
    directory: Path, delta: Mapping[str, Any], spec: Any, meta: CheckpointMeta, base_dir: Path
) -> CheckpointMeta:
    """Write a delta checkpoint (adapters + metadata recording the delta's provenance)."""
    from codeprm.prm import lora

    directory = Path(directory)
    base_sha = weights_sha256(base_dir)
    tmp = directory.with_name(directory.name + ".tmp-codeprm")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    digest = lora.save_delta(tmp / lora.DELTA_FILE, delta, spec, base_sha)
    meta = meta.with_(
        weights_sha256=combined_sha256(base_sha, digest),
        delta={
            "file": lora.DELTA_FILE,
            "sha256": digest,
            "format": "lora-v1",
            "lora": spec.to_json(),
            "base_weights_sha256": base_sha,
            "parameters": sum(int(t.numel()) for t in delta.values()),
            "merge": "float32(float64(W) + alpha/rank * B @ A)",
        },
    )
    write_meta(tmp, meta)
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)
    return meta


def _load_delta_checkpoint(
    directory: Path, device: str, *, for_scoring: bool
) -> tuple[Any, Any, CheckpointMeta]:
    from codeprm.prm import lora
    from codeprm.prm.runtime import require_torch, require_transformers

    meta = read_meta(directory)
    if meta is None or not meta.delta:
        raise UsageError(f"{directory} has a delta but no {META_FILE} describing it")
    path = directory / str(meta.delta.get("file", lora.DELTA_FILE))
    digest = lora.delta_sha256(path)
    if digest != meta.delta.get("sha256"):
        raise VersionSkewError(
            f"the delta in {directory} changed since its {META_FILE} was written "
            f"(recorded {str(meta.delta.get('sha256'))[:12]}, found {digest[:12]})"
        )
    base = delta_base_dir(meta)
    if not (base / "config.json").is_file():
        raise NotFoundError(
            f"the PRM delta in {directory} needs its base model in {base}: run 'codeprm prm fetch'"
        )
    base_sha = weights_sha256(base)
    if base_sha != meta.delta.get("base_weights_sha256"):
        raise VersionSkewError(
            f"the PRM delta in {directory} was trained on base weights "
            f"{str(meta.delta.get('base_weights_sha256'))[:12]}, {base} holds {base_sha[:12]}"
        )
    try:
        tensors, spec, _ = lora.load_delta(path)
    except Exception as err:  # safetensors' own errors too
        raise UsageError(f"cannot read the PRM delta {path}: {err}") from err
    meta = meta.with_(weights_sha256=combined_sha256(base_sha, digest))
    base_meta = read_meta(base)
    kind = base_meta.kind if base_meta is not None else "zero-shot"
    if for_scoring and device == "cpu":
        require_torch()
        from codeprm.prm import llama

        if llama.supported(base, kind):
            try:
                model, tokenizer = llama.load(base, device, delta=(tensors, spec))
            except Exception as err:
                raise UsageError(f"cannot load the PRM checkpoint in {base}: {err}") from err
            return model, tokenizer, meta
    transformers = require_transformers()
    torch = require_torch()
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            base, dtype=torch.float32, local_files_only=True, attn_implementation="sdpa"
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(base, local_files_only=True)
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot load the PRM checkpoint in {base}: {err}") from err
    lora.merge_into_model(model, spec, tensors)
    model.to(device)
    model.eval()
    return model, tokenizer, meta
