"""Diagnostic codes go back to the server with the type it gave them (integer or string)."""

from __future__ import annotations

import pytest

from codeprm.lsp import convert
from codeprm.types import Diagnostic, Position, Range

R = Range(Position(0, 0), Position(0, 1))


@pytest.mark.parametrize(
    ("code", "wire"),
    [
        ("2304", 2304),
        ("0", 0),
        ("reportAttributeAccessIssue", "reportAttributeAccessIssue"),
        ("007", "007"),
        ("\u0662", "\u0662"),  # a non-ASCII digit is no integer code
        ("-1", "-1"),
        (None, None),
    ],
)
def test_numeric_codes_round_trip_as_integers(code: str | None, wire: int | str | None) -> None:
    d = Diagnostic(path="a.ts", range=R, severity="error", message="m", code=code, source="ts")
    sent = convert.to_lsp_diagnostic(d)
    assert sent.code == wire and type(sent.code) is type(wire)
    assert convert.diagnostic("a.ts", sent).code == code
