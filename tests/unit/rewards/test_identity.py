"""Diagnostic identity ignores position; the delta is a multiset difference."""

from __future__ import annotations

from codeprm.rewards.identity import Located, counts, delta
from codeprm.types import Diagnostic, Position, Range


def diag(
    line: int, message: str = "x is not defined", severity: str = "error", path: str = "a.py"
) -> Diagnostic:
    return Diagnostic(
        path,
        Range(Position(line, 0), Position(line, 1)),
        severity,
        message,
        "reportUndefinedVariable",
        "basedpyright",
    )  # type: ignore[arg-type]


def test_moved_diagnostic_is_neither_new_nor_fixed() -> None:
    d = delta([Located(diag(3), "f")], [Located(diag(30), "f")])
    assert d.introduced == () and d.fixed == ()


def test_same_message_in_another_function_is_new() -> None:
    d = delta([Located(diag(3), "f")], [Located(diag(3), "f"), Located(diag(9), "g")])
    assert [x.enclosing for x in d.introduced] == ["g"] and d.fixed == ()


def test_multiset_counts_duplicates() -> None:
    before = [Located(diag(3), "f"), Located(diag(4), "f")]
    after = [Located(diag(3), "f")]
    d = delta(before, after)
    assert len(d.fixed) == 1 and d.introduced == ()


def test_severity_and_message_matter() -> None:
    d = delta([Located(diag(1, severity="warning"), "")], [Located(diag(1), "")])
    assert len(d.introduced) == 1 and len(d.fixed) == 1
    assert counts([Located(diag(1), ""), Located(diag(2, severity="warning"), "")]) == {
        "error": 1,
        "warning": 1,
        "information": 0,
    }
