"""Markdown summary: known answers, escaping, edge cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from codeprm.reports import to_markdown
from codeprm.reports.markdown import code, escape, format_reward

EXPECTED = """\
# codeprm: PR 12

| Step | Commit | Reward | Errors after | Introduced | Fixed | Safe |
| ---: | :--- | ---: | ---: | ---: | ---: | :---: |
| 0 | `a1b2c3d` Fix divide | +0.500 | 0 | 0 | 1 | yes |
| 1 | `0123456` Add mean \\| docs | -1.250 | 1 | 2 | 0 | yes |
| 2 | — | -0.400 | 0 | 0 | 0 | **no** |

**Total reward: -1.150** over 3 steps (1 failed the safety checks).

## Introduced errors

- step 1 (`0123456`): `pkg/stats.py:5:12` Cannot access attribute "mean" for class "list\\[int\\]" (`basedpyright/reportAttributeAccessIssue` in `summary`)

## Introduced warnings

- step 1 (`0123456`): `pkg/calc.py:15:5` Import "numpy" could not be resolved (`basedpyright/reportMissingImports`)
"""


def test_known_answer(bundles: list[dict[str, Any]]) -> None:
    assert to_markdown(bundles, title="codeprm: PR 12") == EXPECTED


def test_no_introduced_errors(make_step: Callable[..., Any]) -> None:
    text = to_markdown([make_step(total=0.25, subject="Tidy")], title="Run")
    assert text == (
        "# Run\n\n"
        "| Step | Commit | Reward | Errors after | Introduced | Fixed | Safe |\n"
        "| ---: | :--- | ---: | ---: | ---: | ---: | :---: |\n"
        "| 0 | Tidy | +0.250 | 0 | 0 | 0 | yes |\n\n"
        "**Total reward: +0.250** over 1 step.\n\n"
        "## Introduced errors\n\n"
        "No step introduced an error.\n"
    )


def test_no_steps() -> None:
    assert to_markdown([], title="Empty") == "# Empty\n\nNo steps.\n"


def test_error_bundle_row_and_note(make_step: Callable[..., Any]) -> None:
    failed = make_step(total=0.0, commit="f" * 40)
    failed.update(status="error", processReward=None, facts={}, error={"message": "server timeout"})
    text = to_markdown([make_step(total=1.0), failed], title="T")
    assert "| 1 | `fffffff` | error | — | — | — | — |" in text
    assert "**Total reward: +1.000** over 2 steps (1 could not be scored)." in text


def test_hostile_text_cannot_break_the_table(
    make_step: Callable[..., Any], make_diag: Callable[..., Any]
) -> None:
    d = make_diag("a`b.py", 0, 0, "<script>*x* | y\nz</script>", enclosing="C.__init__")
    text = to_markdown(
        [make_step(total=-1.0, introduced=[d], subject="a | b\n<b>c</b>", commit="1" * 40)],
        title="x_y",
    )
    assert text.startswith("# x\\_y\n")
    assert "| 0 | `1111111` a \\| b \\<b\\>c\\</b\\> | -1.000 |" in text
    assert (
        "- step 0 (`1111111`): ``a`b.py:1:1`` \\<script\\>\\*x\\* \\| y z\\</script\\> (`basedpyright/reportAttributeAccessIssue` in `C.__init__`)"
        in text
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (0.0, "+0.000"),
        (-0.0001, "+0.000"),
        (0.0005, "+0.001"),
        (-1.5, "-1.500"),
        (2, "+2.000"),
    ],
)
def test_format_reward(value: float | None, text: str) -> None:
    assert format_reward(value) == text


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("a_b*c", "a\\_b\\*c"),
        ("[x](y)", "\\[x\\](y)"),
        ("two\nlines", "two lines"),
        ("a & b", "a \\& b"),
    ],
)
def test_escape(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped


@pytest.mark.parametrize(
    ("raw", "span"), [("a.py", "`a.py`"), ("a`b", "``a`b``"), ("`x`", "`` `x` ``")]
)
def test_code_span(raw: str, span: str) -> None:
    assert code(raw) == span
