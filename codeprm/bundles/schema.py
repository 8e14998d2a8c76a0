"""The published JSON Schemas: loading, exporting to a directory, validating bundles."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from codeprm.bundles.canonical import bundle_id
from codeprm.errors import ReplayMismatchError, UsageError, VersionSkewError

BUNDLE_SCHEMA_FILE = "bundle.schema.json"


@functools.cache
def bundle_schema() -> dict[str, Any]:
    text = (
        resources.files("codeprm.bundles")
        .joinpath("schemas", BUNDLE_SCHEMA_FILE)
        .read_text("utf-8")
    )
    return json.loads(text)


def _extra_schemas() -> dict[str, Callable[[], dict[str, Any]]]:
    """Schemas other packages publish (selectors' PositionSpec), found without hard imports."""
    out: dict[str, Callable[[], dict[str, Any]]] = {}
    try:
        from codeprm import selectors

        maker = getattr(selectors, "spec_json_schema", None)
        if callable(maker):
            out["position-spec.schema.json"] = maker
    except ImportError:
        pass
    return out


def all_schemas() -> dict[str, dict[str, Any]]:
    schemas = {BUNDLE_SCHEMA_FILE: bundle_schema()}
    schemas.update({name: make() for name, make in _extra_schemas().items()})
    return schemas


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in sorted(all_schemas().items()):
        path = directory / name
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = bundle_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate_bundle(bundle: Any, *, where: str = "bundle") -> None:
    """Raise a clear error when a bundle breaks the schema or its id does not match."""
    if isinstance(bundle, dict) and bundle.get("version") not in (
        None,
        bundle_schema()["properties"]["version"]["const"],
    ):
        raise VersionSkewError(f"{where}: unknown bundle version {bundle.get('version')!r}")
    errors = sorted(_validator().iter_errors(bundle), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        pointer = "/" + "/".join(str(p) for p in first.absolute_path)
        raise UsageError(
            f"{where}: schema violation at {pointer}: {first.message}",
            details={"errors": len(errors)},
        )
    try:
        expected = bundle_id(bundle)
    except ValueError as err:  # NaN, an integer beyond 2^53, a lone surrogate
        raise UsageError(f"{where}: not canonical JSON (RFC 8785): {err}") from err
    if bundle["bundleId"] != expected:
        raise ReplayMismatchError(
            f"{where}: bundleId {bundle['bundleId']} does not match its content ({expected})"
        )
