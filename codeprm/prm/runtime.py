"""Import torch/transformers on demand, choose the device, and make scoring deterministic.

Every module that needs torch gets it through ``require_torch()`` so that a missing install
fails with one clear usage error instead of an ImportError traceback, and so that no hub is
ever contacted: the offline switches are set before transformers is first imported.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from codeprm.errors import UsageError

INSTALL_HINT = "install the PRM extra: pip install 'codeprm[prm]' torch==2.13.0 (the CPU build)"


def _offline() -> None:
    # OpenMP threads that spin while waiting make torch 10-15x slower on a machine whose
    # cores are busy with other work (measured: tiny training 5 s -> 70 s on 2 loaded
    # cores); sleeping waits cost little when the machine is idle. Read when torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def require_torch() -> Any:
    """The torch module, or a UsageError saying how to install it."""
    _offline()
    try:
        import torch
    except ImportError as err:
        raise UsageError(f"the learned PRM needs torch: {INSTALL_HINT}") from err
    return torch


def require_transformers() -> Any:
    """The transformers module (torch first), offline, with its progress noise turned down."""
    require_torch()
    try:
        import transformers
    except ImportError as err:
        raise UsageError(f"the learned PRM needs transformers: {INSTALL_HINT}") from err
    transformers.logging.set_verbosity_error()
    with contextlib.suppress(AttributeError):  # older transformers
        transformers.utils.logging.disable_progress_bar()
    return transformers


def resolve_device(device: str = "auto") -> str:
    """``auto`` -> ``cuda`` when a GPU is usable, else ``cpu``; ``cuda`` without one is an error."""
    torch = require_torch()
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise UsageError(f"unknown device {device!r} (use auto, cpu or cuda)")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but torch sees no CUDA device")
    return device


def make_deterministic(seed: int | None = None) -> None:
    """Deterministic kernels where torch has them; seeds torch's generators when asked."""
    import sys

    torch = require_torch()
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    # what torch.use_deterministic_algorithms does, minus its import of torch._inductor
    # (which imports torch._dynamo: 3-6 s of a cold start on two cores, for a flag only
    # compiled graphs read); set there too when something has imported it already
    torch._C._set_deterministic_algorithms(True, warn_only=True)
    inductor_config = sys.modules.get("torch._inductor.config")
    if inductor_config is not None:
        inductor_config.deterministic = True
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
    if seed is not None:
        torch.manual_seed(seed)


PRECISIONS = ("auto", "bf16", "fp32")


def autocast_dtype(device: str, precision: str = "auto") -> Any:
    """The autocast dtype, or None for plain float32.

    ``auto``: bf16 on GPUs that support it, float32 on CPU (where bf16 matmuls are slow);
    ``bf16``: bf16 autocast on any device, so the GPU configuration also runs (and is
    tested) on a CPU; ``fp32``: never.
    """
    torch = require_torch()
    if precision not in PRECISIONS:
        from codeprm.errors import UsageError

        raise UsageError(f"unknown precision {precision!r} (use {', '.join(PRECISIONS)})")
    if precision == "bf16" or (
        precision == "auto" and device.startswith("cuda") and torch.cuda.is_bf16_supported()
    ):
        return torch.bfloat16
    return None


def autocast(device: str, dtype: Any) -> Any:
    """A context manager: autocast to ``dtype`` on the device's type, or nothing for None."""
    import contextlib

    torch = require_torch()
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast("cuda" if device.startswith("cuda") else "cpu", dtype=dtype)
