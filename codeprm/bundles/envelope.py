"""The analysis bundle: one JSON envelope per answer, with its content-addressed id.

A bundle is built from plain JSON values by ``make_bundle``; its id is sha256 over the
RFC 8785 encoding of every field except ``bundleId``, ``meta`` and the machine-specific
parts of ``environment`` (see ``canonical.py``), so the same request on the same
workspace snapshot gives the same id in any process.
"""

from __future__ import annotations

import copy
from typing import Any

from codeprm.bundles.canonical import VOLATILE_ENVIRONMENT_KEYS, bundle_id, canonical_bytes

#: Schema version of the envelope. Changing a field changes this and the JSON Schema.
BUNDLE_VERSION = "codeprm.bundle/1"

STATUSES = ("ok", "error")


def make_bundle(
    *,
    request: dict[str, Any],
    facts: dict[str, Any],
    environment: dict[str, Any],
    capabilities: dict[str, Any],
    resolution: dict[str, Any] | None = None,
    edits: list[Any] | None = None,
    process_reward: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "version": BUNDLE_VERSION,
        "status": "error" if error else "ok",
        "request": request,
        "resolution": resolution,
        "facts": facts,
        "edits": list(edits or []),
        "processReward": process_reward,
        "environment": environment,
        "capabilities": capabilities,
        "error": error,
        "meta": dict(meta or {}),
    }
    bundle = copy.deepcopy(bundle)  # a bundle never aliases its caller's data
    # round-trip through the canonical encoder now: a value that cannot be encoded is a
    # bug here, not a surprise for whoever reads the bundle later. The id encodes all but
    # meta and the machine-specific environment entries: those are encoded on their own.
    bundle["bundleId"] = bundle_id(bundle)
    env = bundle["environment"]
    if isinstance(env, dict):
        canonical_bytes({k: v for k, v in env.items() if k in VOLATILE_ENVIRONMENT_KEYS})
    return bundle


def error_info(
    exit_code: int, name: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"exitCode": exit_code, "name": name, "message": message, "details": details or {}}


def encode(bundle: dict[str, Any]) -> bytes:
    """The bundle as canonical JSON bytes (what --json prints and files store)."""
    return canonical_bytes(bundle)
