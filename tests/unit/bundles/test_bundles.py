"""Bundle envelope, canonical encoding, ids, and schema validation (no server)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codeprm.bundles import canonical_bytes, make_bundle
from codeprm.bundles.canonical import bundle_id
from codeprm.bundles.schema import bundle_schema, export, validate_bundle
from codeprm.errors import ReplayMismatchError, UsageError, VersionSkewError

ENV = {
    "codeprmVersion": "0.1.0",
    "server": {"name": "basedpyright", "version": "1.40.2"},
    "positionEncoding": "utf-16",
    "pythonExecutable": "/usr/bin/python3",
    "pythonVersion": "3.11.7",
    "venv": None,
    "configDigest": "sha256:" + "0" * 64,
    "platform": "Linux-x86_64",
}
REQUEST = {
    "operation": "diag",
    "workspaceDigest": "sha256:" + "1" * 64,
    "targets": ["a.py"],
    "selector": None,
    "params": {},
}
DIAG = {
    "path": "a.py",
    "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 3}},
    "severity": "error",
    "message": '"x" is not defined',
    "code": "reportUndefinedVariable",
    "source": "basedpyright",
}


def bundle(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "request": REQUEST,
        "facts": {
            "diagnostics": [DIAG],
            "counts": {"error": 1, "warning": 0, "information": 0},
            "files": ["a.py"],
        },
        "environment": ENV,
        "capabilities": {"definition": True},
        "meta": {"durationMs": 1.5},
    }
    args.update(overrides)
    return make_bundle(**args)


def test_canonical_encoding_follows_rfc8785() -> None:
    assert (
        canonical_bytes({"b": 1.0, "a": [1e21, 0.1, "é"]}) == '{"a":[1e+21,0.1,"é"],"b":1}'.encode()
    )


def test_bundle_validates_and_id_is_content_hash() -> None:
    b = bundle()
    validate_bundle(b)
    assert b["bundleId"].startswith("sha256:") and len(b["bundleId"]) == 71
    assert b["bundleId"] == bundle_id(b)


@pytest.mark.parametrize(
    ("path", "value", "same"),
    [
        (("meta", "durationMs"), 99.0, True),
        (("environment", "pythonExecutable"), "/other/python", True),
        (("environment", "platform"), "Darwin-arm64", True),
        (("environment", "venv"), "/somewhere/.venv", True),
        (("environment", "configDigest"), "sha256:" + "2" * 64, False),
        (("environment", "server"), {"name": "basedpyright", "version": "9"}, False),
        (("request", "workspaceDigest"), "sha256:" + "3" * 64, False),
        (("facts", "files"), ["b.py"], False),
    ],
)
def test_which_fields_enter_the_id(path: tuple[str, str], value: Any, same: bool) -> None:
    a = bundle()
    b = copy.deepcopy(a)
    b[path[0]][path[1]] = value
    assert (bundle_id(a) == bundle_id(b)) is same


def test_key_order_does_not_change_the_id() -> None:
    a = bundle()
    reordered = json.loads(json.dumps(a, sort_keys=False))
    reversed_env = dict(reversed(list(reordered["environment"].items())))
    reordered["environment"] = reversed_env
    assert bundle_id(reordered) == a["bundleId"]


def test_tampered_bundle_is_a_replay_mismatch() -> None:
    b = bundle()
    b["facts"]["counts"]["error"] = 0
    with pytest.raises(ReplayMismatchError):
        validate_bundle(b)


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda b: b.pop("facts"), UsageError),
        (lambda b: b.update(status="maybe"), UsageError),
        (lambda b: b["facts"]["diagnostics"][0].update(severity="hint"), UsageError),
        (lambda b: b.update(version="codeprm.bundle/99"), VersionSkewError),
        (lambda b: b.update(extra=1), UsageError),
    ],
)
def test_schema_rejects_bad_bundles(mutate: Any, error: type[Exception]) -> None:
    b = bundle()
    mutate(b)
    with pytest.raises(error):
        validate_bundle(b)


def test_error_bundle_has_error_status() -> None:
    from codeprm.bundles import error_info

    b = bundle(error=error_info(3, "not-found", "x: no such file"))
    assert b["status"] == "error"
    validate_bundle(b)


def test_export_writes_a_valid_draft_2020_12_schema(tmp_path: Path) -> None:
    import jsonschema

    written = export(tmp_path / "schemas")
    names = {p.name for p in written}
    assert "bundle.schema.json" in names
    schema = json.loads((tmp_path / "schemas" / "bundle.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema == bundle_schema()
    jsonschema.validate(bundle(), schema)


def test_schema_cli_validates_files(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_bytes(canonical_bytes(bundle()))
    lines = tmp_path / "many.jsonl"
    lines.write_bytes(
        canonical_bytes(bundle()) + b"\n" + canonical_bytes(bundle(capabilities={})) + b"\n"
    )
    bad = tmp_path / "bad.json"
    tampered = bundle()
    tampered["facts"]["files"] = ["z.py"]
    bad.write_text(json.dumps(tampered))
    ok = subprocess.run(
        [sys.executable, "-m", "codeprm", "schema", "validate", str(good), str(lines)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "3 bundle(s) valid" in ok.stdout
    fail = subprocess.run(
        [sys.executable, "-m", "codeprm", "schema", "validate", str(bad)],
        capture_output=True,
        text=True,
    )
    assert fail.returncode == 76
    assert "does not match" in fail.stderr and "Traceback" not in fail.stderr
