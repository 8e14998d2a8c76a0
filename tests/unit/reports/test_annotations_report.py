"""GitHub workflow-command annotations: known answers and the runner's escaping rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from codeprm.reports import to_github_annotations
from codeprm.reports.annotations import escape_data, escape_property


def test_known_answer(bundles: list[dict[str, Any]]) -> None:
    assert to_github_annotations(bundles) == [
        "::warning file=pkg/calc.py,line=15,col=5,endLine=15,endColumn=8,"
        "title=codeprm step 1 (0123456)%3A basedpyright/reportMissingImports"
        '::Import "numpy" could not be resolved',
        "::error file=pkg/stats.py,line=5,col=12,endLine=5,endColumn=15,"
        "title=codeprm step 1 (0123456)%3A basedpyright/reportAttributeAccessIssue"
        '::Cannot access attribute "mean" for class "list[int]"',
    ]


def test_severities_and_no_commit(
    make_step: Callable[..., Any], make_diag: Callable[..., Any]
) -> None:
    introduced = [
        make_diag("a.py", 0, 0, "e", code=None),
        make_diag("a.py", 1, 0, "w", severity="warning", code=None),
        make_diag("a.py", 2, 0, "i", severity="information", code=None, end=(3, 0)),
    ]
    assert to_github_annotations([make_step(total=-1.0, introduced=introduced)]) == [
        "::error file=a.py,line=1,col=1,endLine=1,endColumn=4,title=codeprm step 0%3A codeprm/error::e",
        "::warning file=a.py,line=2,col=1,endLine=2,endColumn=4,title=codeprm step 0%3A codeprm/warning::w",
        "::notice file=a.py,line=3,col=1,endLine=4,endColumn=1,title=codeprm step 0%3A codeprm/information::i",
    ]


def test_fixed_diagnostics_make_no_annotation(
    make_step: Callable[..., Any], make_diag: Callable[..., Any]
) -> None:
    assert (
        to_github_annotations([make_step(total=1.0, fixed=[make_diag("a.py", 0, 0, "gone")])]) == []
    )


def test_message_and_properties_are_escaped(
    make_step: Callable[..., Any], make_diag: Callable[..., Any]
) -> None:
    d = make_diag("dir,x/a:b.py", 0, 0, "100% wrong:\r\nsee, here", code="c,d:e")
    (line,) = to_github_annotations([make_step(total=-1.0, introduced=[d])])
    assert line == (
        "::error file=dir%2Cx/a%3Ab.py,line=1,col=1,endLine=1,endColumn=4,"
        "title=codeprm step 0%3A basedpyright/c%2Cd%3Ae::100%25 wrong:%0D%0Asee, here"
    )
    assert "\n" not in line and "\r" not in line


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("50%", "50%25", "50%25"),
        ("a\nb", "a%0Ab", "a%0Ab"),
        ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
        ("k: v, w", "k: v, w", "k%3A v%2C w"),
        ("%0A", "%250A", "%250A"),  # an already-encoded look-alike stays literal
    ],
)
def test_escaping_rules(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop
