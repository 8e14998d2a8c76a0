"""Render step bundles as a SARIF 2.1.0 log (one result per introduced diagnostic) and validate it.

The log is deterministic: rules sorted by id and referenced by index, results by step,
path and position, no timestamps. Regions are 1-based with UTF-16 columns
(``columnKind: utf16CodeUnits``), converted from the bundles' 0-based LSP positions;
the end column is exclusive in both. ``partialFingerprints`` hold a position-free
identity (path, source, code, severity, message, enclosing definition), so a diagnostic
that merely moved keeps its fingerprint across runs.

``validate_sarif`` checks a document against the OASIS SARIF 2.1.0 JSON Schema (draft-04,
vendored as ``schemas/sarif-schema-2.1.0.json``) and that each ``ruleIndex`` names its
``ruleId``.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any
from urllib.parse import quote

from codeprm.errors import UsageError
from codeprm.reports.steps import (
    FINGERPRINT_KEY,
    ReportDiagnostic,
    StepFacts,
    introduced_in_order,
    read_steps,
)

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SARIF_SCHEMA_FILE = "sarif-schema-2.1.0.json"
SRCROOT = "SRCROOT"
LEVELS = {"error": "error", "warning": "warning", "information": "note", "hint": "note"}
_LEVEL_RANK = {"error": 0, "warning": 1, "note": 2, "none": 3}


def to_sarif(bundles: Iterable[Mapping[str, Any]], *, tool_version: str) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run of ``codeprm`` over the given step bundles."""
    steps = read_steps(bundles)
    found = introduced_in_order(steps)
    rules = _rules(d for _, d in found)
    index = {rule["id"]: n for n, rule in enumerate(rules)}
    rewards = [s.reward for s in steps if s.reward is not None]
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "codeprm",
                        "version": tool_version,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {
                    SRCROOT: {
                        "description": {
                            "text": "The root of the workspace the steps were scored in."
                        }
                    }
                },
                "columnKind": "utf16CodeUnits",
                "results": [_result(step, d, index[d.rule_id]) for step, d in found],
                "properties": {
                    "steps": len(steps),
                    "totalReward": _round(math.fsum(rewards)),
                },
            }
        ],
    }


def _rules(diagnostics: Iterable[ReportDiagnostic]) -> list[dict[str, Any]]:
    by_id: dict[str, ReportDiagnostic] = {}
    level: dict[str, str] = {}
    for d in diagnostics:
        by_id.setdefault(d.rule_id, d)
        current, new = level.get(d.rule_id), LEVELS.get(d.severity, "warning")
        if current is None or _LEVEL_RANK[new] < _LEVEL_RANK[current]:
            level[d.rule_id] = new
    rules = []
    for rule_id in sorted(by_id):
        d = by_id[rule_id]
        if d.code:
            name, text = d.code, f"{d.source or 'codeprm'} diagnostic {d.code}"
        else:
            name, text = (
                d.severity,
                f"A {d.source or 'language server'} {d.severity} without a rule code",
            )
        rules.append(
            {
                "id": rule_id,
                "name": name,
                "shortDescription": {"text": text},
                "defaultConfiguration": {"level": level[rule_id]},
            }
        )
    return rules


def _result(step: StepFacts, d: ReportDiagnostic, rule_index: int) -> dict[str, Any]:
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": _artifact(d.path),
            "region": {
                "startLine": d.start_line + 1,
                "startColumn": d.start_character + 1,
                "endLine": d.end_line + 1,
                "endColumn": d.end_character + 1,
            },
        }
    }
    if d.enclosing:
        location["logicalLocations"] = [{"fullyQualifiedName": d.enclosing}]
    properties: dict[str, Any] = {"step": step.index, "severity": d.severity}
    for key, value in (
        ("reward", step.reward),
        ("commit", step.commit),
        ("subject", step.subject),
        ("bundleId", step.bundle_id),
        ("enclosing", d.enclosing or None),
    ):
        if value is not None:
            properties[key] = value
    return {
        "ruleId": d.rule_id,
        "ruleIndex": rule_index,
        "level": LEVELS.get(d.severity, "warning"),
        "message": {"text": d.message},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: d.fingerprint},
        "properties": properties,
    }


def _artifact(path: str) -> dict[str, Any]:
    if "://" in path:  # outside the workspace: already an absolute URI
        return {"uri": path}
    return {"uri": quote(path, safe="/"), "uriBaseId": SRCROOT}


def _round(x: float) -> float:
    v = round(x, 12)
    return 0.0 if v == 0 else v


# -- validation ------------------------------------------------------------------------------
@functools.cache
def sarif_schema() -> dict[str, Any]:
    """The vendored OASIS SARIF 2.1.0 JSON Schema (draft-04)."""
    text = (
        resources.files("codeprm.reports").joinpath("schemas", SARIF_SCHEMA_FILE).read_text("utf-8")
    )
    return json.loads(text)


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = sarif_schema()
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def validate_sarif(doc: Any, *, where: str = "SARIF log") -> None:
    """Raise UsageError naming the first violation of the SARIF 2.1.0 schema (or of ruleIndex)."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        first = errors[0]
        pointer = "/" + "/".join(str(p) for p in first.absolute_path)
        raise UsageError(
            f"{where}: schema violation at {pointer}: {first.message}",
            details={"errors": len(errors), "pointer": pointer},
        )
    for r, run in enumerate(doc.get("runs") or []):
        rules = ((run.get("tool") or {}).get("driver") or {}).get("rules") or []
        for n, result in enumerate(run.get("results") or []):
            i = result.get("ruleIndex")
            if i is None:
                continue
            if i >= len(rules) or ("ruleId" in result and rules[i].get("id") != result["ruleId"]):
                pointer = f"/runs/{r}/results/{n}/ruleIndex"
                raise UsageError(
                    f"{where}: {pointer} does not name rule {result.get('ruleId')!r}",
                    details={"errors": 1, "pointer": pointer},
                )
