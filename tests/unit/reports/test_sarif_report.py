"""SARIF 2.1.0 output: real schema validation, stable fingerprints and rules, deterministic order."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

from codeprm.errors import UsageError
from codeprm.reports import to_sarif, validate_sarif
from codeprm.reports.sarif import SARIF_SCHEMA_URI, sarif_schema

SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


def results(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["runs"][0]["results"]


def test_vendored_schema_is_the_official_file() -> None:
    data = (
        resources.files("codeprm.reports")
        .joinpath("schemas", "sarif-schema-2.1.0.json")
        .read_bytes()
    )
    assert hashlib.sha256(data).hexdigest() == SCHEMA_SHA256
    assert sarif_schema()["id"] == SARIF_SCHEMA_URI


def test_output_validates_against_the_schema(bundles: list[dict[str, Any]]) -> None:
    doc = to_sarif(bundles, tool_version="0.1.0")
    validate_sarif(doc)
    validate_sarif(json.loads(json.dumps(doc)))  # as a file would hold it
    assert doc["$schema"] == SARIF_SCHEMA_URI and doc["version"] == "2.1.0"
    assert len(doc["runs"]) == 1


def test_empty_input_is_a_valid_log() -> None:
    doc = to_sarif([], tool_version="0.1.0")
    validate_sarif(doc)
    assert results(doc) == [] and doc["runs"][0]["tool"]["driver"]["rules"] == []


def test_one_result_per_introduced_diagnostic(bundles: list[dict[str, Any]]) -> None:
    doc = to_sarif(bundles, tool_version="0.1.0")
    run = doc["runs"][0]
    assert (
        run["tool"]["driver"]["name"] == "codeprm" and run["tool"]["driver"]["version"] == "0.1.0"
    )
    assert run["columnKind"] == "utf16CodeUnits"
    assert run["properties"] == {"steps": 3, "totalReward": -1.15}
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [
        "basedpyright/reportAttributeAccessIssue",
        "basedpyright/reportMissingImports",
    ]
    found = results(doc)
    assert [(r["ruleId"], r["ruleIndex"], r["level"]) for r in found] == [
        (
            "basedpyright/reportMissingImports",
            1,
            "warning",
        ),  # pkg/calc.py sorts before pkg/stats.py
        ("basedpyright/reportAttributeAccessIssue", 0, "error"),
    ]
    error = found[1]
    assert error["message"] == {"text": 'Cannot access attribute "mean" for class "list[int]"'}
    (location,) = error["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "pkg/stats.py", "uriBaseId": "SRCROOT"},
        "region": {"startLine": 5, "startColumn": 12, "endLine": 5, "endColumn": 15},
    }
    assert location["logicalLocations"] == [{"fullyQualifiedName": "summary"}]
    assert error["properties"] == {
        "step": 1,
        "severity": "error",
        "reward": -1.25,
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "subject": "Add mean | docs",
        "bundleId": bundles[1]["bundleId"],
        "enclosing": "summary",
    }
    assert set(error["partialFingerprints"]) == {"codeprmIdentity/v1"}


def test_fingerprint_ignores_position_only(
    make_step: Callable[..., Any], make_diag: Callable[..., Any]
) -> None:
    def fingerprint(d: dict[str, Any]) -> str:
        doc = to_sarif([make_step(total=-1.0, introduced=[d])], tool_version="0.1.0")
        return results(doc)[0]["partialFingerprints"]["codeprmIdentity/v1"]

    here = make_diag("a.py", 3, 4, "boom", enclosing="f")
    moved = make_diag("a.py", 40, 8, "boom", enclosing="f", end=(41, 2))
    assert fingerprint(here) == fingerprint(moved)
    for changed in (
        make_diag("b.py", 3, 4, "boom", enclosing="f"),
        make_diag("a.py", 3, 4, "bang", enclosing="f"),
        make_diag("a.py", 3, 4, "boom", enclosing="g"),
        make_diag("a.py", 3, 4, "boom", enclosing="f", severity="warning"),
        make_diag("a.py", 3, 4, "boom", enclosing="f", code="other"),
        make_diag("a.py", 3, 4, "boom", enclosing="f", source="ruff"),
    ):
        assert fingerprint(changed) != fingerprint(here)


def test_rules_without_code_and_levels(
    make_step: Callable[..., Any], make_diag: Callable[..., Any]
) -> None:
    introduced = [
        make_diag("a.py", 0, 0, "Expected expression", code=None),
        make_diag("a.py", 1, 0, "unused", severity="information", code=None),
        make_diag("a.py", 2, 0, "shadowed", severity="warning", code="reportX"),
        make_diag("a.py", 3, 0, "shadowed hard", severity="error", code="reportX"),
    ]
    doc = to_sarif([make_step(total=-2.0, introduced=introduced)], tool_version="0.1.0")
    validate_sarif(doc)
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert list(rules) == ["basedpyright/reportX", "codeprm/error", "codeprm/information"]
    assert rules["basedpyright/reportX"]["defaultConfiguration"] == {
        "level": "error"
    }  # the most severe seen
    assert rules["codeprm/information"]["defaultConfiguration"] == {"level": "note"}
    assert [r["level"] for r in results(doc)] == ["error", "note", "warning", "error"]


def test_output_is_deterministic(bundles: list[dict[str, Any]]) -> None:
    shuffled = copy.deepcopy(bundles)
    shuffled[1]["facts"]["introduced"].reverse()
    first = json.dumps(to_sarif(bundles, tool_version="0.1.0"))
    assert first == json.dumps(to_sarif(copy.deepcopy(bundles), tool_version="0.1.0"))
    assert first == json.dumps(to_sarif(shuffled, tool_version="0.1.0"))


def test_uris(make_step: Callable[..., Any], make_diag: Callable[..., Any]) -> None:
    introduced = [
        make_diag("my dir/a#b.py", 0, 0, "x"),
        make_diag("file:///usr/lib/python3.11/os.py", 0, 0, "y"),
    ]
    doc = to_sarif([make_step(total=-1.0, introduced=introduced)], tool_version="0.1.0")
    validate_sarif(doc)
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in results(doc)]
    assert locations == [
        {"uri": "file:///usr/lib/python3.11/os.py"},
        {"uri": "my%20dir/a%23b.py", "uriBaseId": "SRCROOT"},
    ]


def test_error_bundles_count_as_steps_without_results(make_step: Callable[..., Any]) -> None:
    failed = make_step(total=0.0)
    failed.update(status="error", processReward=None, facts={}, error={"message": "server timeout"})
    doc = to_sarif([failed], tool_version="0.1.0")
    validate_sarif(doc)
    assert results(doc) == [] and doc["runs"][0]["properties"] == {"steps": 1, "totalReward": 0.0}


@pytest.mark.parametrize(
    ("bundle", "fragment"),
    [
        ("nope", "bundle 0: a step bundle must be a JSON object"),
        (
            {"processReward": None, "facts": {}},
            "bundle 0: not a step bundle: processReward.total is missing",
        ),
        ({"processReward": {"total": 1.0}}, "bundle 0: not a step bundle: facts is missing"),
        (
            {"processReward": {"total": 1.0}, "facts": {"introduced": [{"path": "a.py"}]}},
            "bundle 0: facts.introduced[0]: malformed diagnostic",
        ),
    ],
)
def test_malformed_bundles_are_usage_errors(bundle: Any, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        to_sarif([bundle], tool_version="0.1.0")
    assert fragment in info.value.message


# -- validation catches broken documents -----------------------------------------------------
def broken(doc: dict[str, Any], how: str) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    result = doc["runs"][0]["results"][0]
    if how == "level":
        result["level"] = "fatal"
    elif how == "version":
        doc["version"] = "2.0.0"
    elif how == "line":
        result["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    elif how == "message":
        result["message"] = {"markdown": "**x**"}
    elif how == "extra":
        result["severity"] = "error"  # not a SARIF property
    elif how == "driver":
        del doc["runs"][0]["tool"]["driver"]["name"]
    elif how == "ruleIndex":
        result["ruleIndex"] = 0 if result["ruleIndex"] else 1
    return doc


@pytest.mark.parametrize(
    ("how", "pointer"),
    [
        ("level", "/runs/0/results/0/level"),
        ("version", "/version"),
        ("line", "/runs/0/results/0/locations/0/physicalLocation/region/startLine"),
        ("message", "/runs/0/results/0/message"),
        ("extra", "/runs/0/results/0"),
        ("driver", "/runs/0/tool/driver"),
        ("ruleIndex", "/runs/0/results/0/ruleIndex"),
    ],
)
def test_broken_documents_fail_validation(
    bundles: list[dict[str, Any]], how: str, pointer: str
) -> None:
    doc = to_sarif(bundles, tool_version="0.1.0")
    validate_sarif(doc)
    with pytest.raises(UsageError) as info:
        validate_sarif(broken(doc, how))
    assert info.value.details["pointer"] == pointer
    assert info.value.exit_code == 2


def test_not_a_document_fails_validation() -> None:
    with pytest.raises(UsageError, match="schema violation at /:"):
        validate_sarif([])
