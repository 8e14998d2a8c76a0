"""Analysis bundles: the envelope, canonical encoding, ids and published schemas."""

from __future__ import annotations

from codeprm.bundles.canonical import bundle_id, canonical_bytes
from codeprm.bundles.envelope import BUNDLE_VERSION, encode, error_info, make_bundle

__all__ = ["BUNDLE_VERSION", "bundle_id", "canonical_bytes", "encode", "error_info", "make_bundle"]
