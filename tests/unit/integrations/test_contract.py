"""The sample contract and the rule that finds the edit in a completion."""

from __future__ import annotations

import json

import pytest

from codeprm.errors import UsageError
from codeprm.integrations.contract import Sample, extract_edit, parse_sample

DIFF = "--- a/m.py\n+++ b/m.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
GIT_DIFF = "diff --git a/m.py b/m.py\n" + DIFF


def test_a_sample_parses_from_an_object_or_its_json_text() -> None:
    obj = {"workspace": {"repo": "/r", "commit": "abc123"}, "edit": DIFF, "task": "fix it"}
    assert (
        parse_sample(obj) == parse_sample(json.dumps(obj)) == Sample("/r", "abc123", DIFF, "fix it")
    )
    wsedit = {"changes": {"file:///r/m.py": []}}
    assert parse_sample({**obj, "edit": wsedit}).edit == json.dumps(wsedit, sort_keys=True)
    assert parse_sample({"workspace": {"repo": "/r", "commit": "abc123"}}) == Sample("/r", "abc123")


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("not json", "not JSON"),
        ([1], "must be an object"),
        ({"workspace": {"repo": "/r"}}, "workspace.repo and workspace.commit"),
        ({"workspace": {"repo": "/r", "commit": "a1b2"}, "edit": 3}, "unified diff"),
        ({"workspace": {"repo": "/r", "commit": "a1b2"}, "task": ["x"]}, "task must be a string"),
    ],
)
def test_bad_samples_get_one_line(bad: object, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        parse_sample(bad)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (f"Here is the fix:\n```diff\n{DIFF}```\nDone.", DIFF),
        (f"```patch\n{DIFF}```", DIFF),
        (
            f"first try\n```diff\n{DIFF.replace('2', '3')}```\nbetter:\n```diff\n{DIFF}```",
            DIFF,
        ),  # the last one
        (f"```\n{GIT_DIFF}```", GIT_DIFF),  # untagged, but shaped like a diff
        (f"```python\nx = 2\n```\n```\n{DIFF}```", DIFF),
        (f"I changed it.\n{GIT_DIFF}", GIT_DIFF),  # outside any fence
        (f"Explanation.\n{DIFF}", DIFF),
        ('```json\n{"changes": {}}\n```', '{"changes": {}}\n'),
    ],
)
def test_the_edit_is_found_by_the_documented_rule(completion: str, expected: str) -> None:
    assert extract_edit(completion) == expected


@pytest.mark.parametrize(
    "completion",
    [
        "",
        "I could not find the bug.",
        "```python\nx = 2\n```",
        "--- not a diff header line\nsome text",
        "---\n+++",
    ],
)
def test_no_edit_is_none(completion: str) -> None:
    assert extract_edit(completion) is None
