"""Canonical JSON (RFC 8785) and the content-addressed bundle id."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

#: Top-level envelope keys that never enter the bundle id (timings, hosts, paths).
VOLATILE_KEYS = frozenset({"bundleId", "meta"})
#: Keys of ``environment`` that are machine-specific and so excluded from the id.
VOLATILE_ENVIRONMENT_KEYS = frozenset({"pythonExecutable", "venv", "platform"})


def canonical_bytes(obj: Any) -> bytes:
    """RFC 8785 (JCS) encoding: sorted keys, no whitespace, ECMAScript number form."""
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as err:
        raise ValueError(f"not canonicalisable JSON: {err}") from err


def identity_view(bundle: dict[str, Any]) -> dict[str, Any]:
    """The non-volatile part of a bundle: what its id is computed over."""
    view = {k: v for k, v in bundle.items() if k not in VOLATILE_KEYS}
    env = view.get("environment")
    if isinstance(env, dict):
        view["environment"] = {k: v for k, v in env.items() if k not in VOLATILE_ENVIRONMENT_KEYS}
    return view


def bundle_id(bundle: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_bytes(identity_view(bundle))).hexdigest()
