"""Step bundles for the report tests: real envelopes (make_bundle), checked against the bundle schema."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from codeprm.bundles import make_bundle
from tests.conftest import check_bundle

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


def diag(
    path: str,
    line: int,
    character: int,
    message: str,
    *,
    severity: str = "error",
    code: str | None = "reportAttributeAccessIssue",
    source: str | None = "basedpyright",
    enclosing: str = "",
    end: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """A diagnostic as a step bundle lists it (0-based line, UTF-16 column)."""
    end_line, end_character = end if end is not None else (line, character + 3)
    return {
        "path": path,
        "range": {
            "start": {"line": line, "character": character},
            "end": {"line": end_line, "character": end_character},
        },
        "severity": severity,
        "message": message,
        "code": code,
        "source": source,
        "enclosing": enclosing,
    }


def step_bundle(
    *,
    total: float,
    introduced: Sequence[dict[str, Any]] = (),
    fixed: Sequence[dict[str, Any]] = (),
    errors_after: int = 0,
    safe: bool = True,
    commit: str | None = None,
    subject: str | None = None,
    targets: Sequence[str] = ("pkg/calc.py",),
) -> dict[str, Any]:
    """A bundle shaped like the ones ``codeprm step`` writes."""
    after_counts = {"error": errors_after, "warning": 0, "information": 0}
    meta: dict[str, Any] = {"durationMs": 12.5}
    if commit is not None:
        meta["commit"] = commit
    if subject is not None:
        meta["subject"] = subject
    bundle = make_bundle(
        request={
            "operation": "step",
            "workspaceDigest": "sha256:" + "1" * 64,
            "targets": list(targets),
            "selector": None,
            "params": {},
        },
        facts={
            "covered": list(targets),
            "before": {"counts": {"error": 0, "warning": 0, "information": 0}, "diagnostics": []},
            "after": {"counts": after_counts, "diagnostics": list(introduced)},
            "introduced": list(introduced),
            "fixed": list(fixed),
            "safety": {
                "passed": safe,
                "reasons": {} if safe else {"syntax": "the edit breaks the syntax"},
            },
            "confidence": 1.0,
        },
        edits=[],
        process_reward={
            "formula": {
                "name": "potential-v1",
                "version": 1,
                "expression": "Phi(F_t) - Phi(F_{t-1})",
            },
            "components": {"errors": total, "warnings": 0.0, "safety": 0.0, "confidence": 0.0},
            "total": total,
        },
        environment=ENV,
        capabilities={"diagnostics": True},
        meta=meta,
    )
    return check_bundle(bundle)


SHA0 = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
SHA1 = "0123456789abcdef0123456789abcdef01234567"


def scenario() -> list[dict[str, Any]]:
    """Three steps: a fix, a step that breaks things, and an unsafe step without a commit."""
    return [
        step_bundle(
            total=0.5,
            fixed=[
                diag(
                    "pkg/calc.py",
                    9,
                    14,
                    '"ZeroDivision" is not defined',
                    code="reportUndefinedVariable",
                    enclosing="divide",
                )
            ],
            commit=SHA0,
            subject="Fix divide",
        ),
        step_bundle(
            total=-1.25,
            introduced=[
                diag(
                    "pkg/stats.py",
                    4,
                    11,
                    'Cannot access attribute "mean" for class "list[int]"',
                    enclosing="summary",
                ),
                diag(
                    "pkg/calc.py",
                    14,
                    4,
                    'Import "numpy" could not be resolved',
                    severity="warning",
                    code="reportMissingImports",
                ),
            ],
            errors_after=1,
            commit=SHA1,
            subject="Add mean | docs",
        ),
        step_bundle(total=-0.4, safe=False, targets=("pkg/io.py",)),
    ]


@pytest.fixture
def bundles() -> list[dict[str, Any]]:
    return scenario()


@pytest.fixture
def make_step() -> Callable[..., dict[str, Any]]:
    return step_bundle


@pytest.fixture
def make_diag() -> Callable[..., dict[str, Any]]:
    return diag
