"""``codeprm hook claude-code`` with recorded PostToolUse payloads, as Claude Code runs it.

Each payload under tests/fixtures/hooks/ names files relative to the workspace; the test
applies the edit to a fresh copy of ws_basic first (Claude Code runs the hook after the
tool ran), makes the paths absolute, and pipes the payload to the hook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from codeprm.agents.hooks import Replacement, parse_payload, reconstruct_before, unapply
from tests.conftest import FIXTURES, REPO, Result, assert_clean_error, check_bundle, copy_fixture

HOOKS = FIXTURES / "hooks"
e2e = pytest.mark.e2e


def payload(name: str, ws: Path) -> dict[str, Any]:
    """A recorded payload made concrete for ``ws``: absolute paths, as Claude Code sends them."""
    data = json.loads((HOOKS / name).read_text("utf-8"))
    data["cwd"] = str(ws)
    data["transcript_path"] = str(ws.parent / "transcript.jsonl")
    for holder in (data.get("tool_input") or {}, data.get("tool_response") or {}):
        for key in ("file_path", "filePath"):
            if key in holder:
                holder[key] = str(ws / holder[key])
    return data


def claude_applies(data: dict[str, Any]) -> None:
    """Do to the disk what Claude Code's tool did before it ran the hook."""
    tool, args = data["tool_name"], data["tool_input"]
    path = Path(args["file_path"])
    if tool == "Write":
        path.write_text(args["content"], "utf-8")
        return
    text = path.read_text("utf-8")
    for e in args["edits"] if tool == "MultiEdit" else [args]:
        assert e["old_string"] in text, e
        text = (
            text.replace(e["old_string"], e["new_string"])
            if e.get("replace_all")
            else text.replace(e["old_string"], e["new_string"], 1)
        )
    path.write_text(text, "utf-8")


def run_hook(stdin: str, *args: str, cwd: Path) -> Result:
    """The hook in a fresh process, with the payload on stdin and cwd the project, like Claude Code."""
    env = {**os.environ, "CODEPRM_NO_DAEMON": "1", "PYTHONPATH": str(REPO)}
    env.pop("CODEPRM_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "codeprm", "hook", "claude-code", *args],
        input=stdin,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return copy_fixture("ws_basic", tmp_path)


def hook(name: str, ws: Path, *args: str, apply: bool = True) -> Result:
    data = payload(name, ws)
    if apply:
        claude_applies(data)
    return run_hook(json.dumps(data), *args, cwd=ws)


# -- end to end: the real server ----------------------------------------------------------------
@e2e
def test_edit_that_breaks_callers_blocks_with_the_reason(ws: Path) -> None:
    r = hook("edit_breaks_caller.json", ws, "--json")
    assert r.code == 2, r.err
    bundle = check_bundle(json.loads(r.out))
    assert bundle["request"]["operation"] == "hook"
    assert bundle["request"]["params"]["beforeSource"] == "reversed"
    assert bundle["processReward"]["total"] < 0
    assert sorted(d["path"] for d in bundle["facts"]["introduced"]) == [
        "pkg/app.py",
        "pkg/broken.py",
    ]
    # the reason is what the model reads: where, what, and the reward
    assert "step reward of -1.0000, below the threshold 0" in r.err
    assert "pkg/app.py:6: error: Expected 1 positional argument" in r.err
    assert "pkg/broken.py:5: error: Expected 1 positional argument" in r.err
    assert "Traceback" not in r.err


@e2e
def test_edit_that_fixes_an_error_passes_silently(ws: Path) -> None:
    r = hook("edit_fixes_error.json", ws)
    assert (r.code, r.out, r.err) == (0, "", "")


@e2e
def test_write_creating_a_broken_file_blocks(ws: Path) -> None:
    r = hook("write_creates_file.json", ws, "--json")
    assert r.code == 2, r.err
    bundle = check_bundle(json.loads(r.out))
    assert bundle["request"]["params"]["beforeSource"] == "created"
    assert [e["kind"] for e in bundle["edits"]] == ["create"]
    assert "pkg/shapes.py:5: error:" in r.err


@e2e
def test_multiedit_is_undone_in_reverse_order_and_passes(ws: Path) -> None:
    r = hook("multiedit_rename_import.json", ws, "--json")
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    assert bundle["request"]["params"]["beforeSource"] == "reversed"
    assert bundle["facts"]["introduced"] == [] and bundle["processReward"]["total"] == 0
    # the reconstructed before text is the fixture's own file
    assert bundle["edits"][0]["oldSha256"] == _sha(
        (FIXTURES / "ws_basic/pkg/app.py").read_text("utf-8")
    )


@e2e
def test_unknown_before_state_measures_the_after_state_and_says_so(ws: Path) -> None:
    r = hook("edit_ambiguous_no_original.json", ws)
    assert r.code == 0, r.err
    message = json.loads(r.out)["systemMessage"]
    assert "could not rebuild broken.py" in message


@pytest.mark.parametrize("name", ["edit_readme.json", "bash_tool.json"])
def test_not_a_python_edit_is_none_of_its_business(ws: Path, name: str) -> None:
    (ws / "README.md").write_text("# demo\n", "utf-8")
    r = hook(name, ws, apply=name != "bash_tool.json")
    assert (r.code, r.out, r.err) == (0, "", "")


# -- failures of the hook itself never block the model (exit 1, one line) ------------------------
@pytest.mark.parametrize(
    ("stdin", "fragment"),
    [
        ("{not json", "hook payload is not JSON"),
        ("[1, 2]", "must be a JSON object"),
        (
            json.dumps({"hook_event_name": "PreToolUse", "tool_name": "Edit", "tool_input": {}}),
            "handles PostToolUse events",
        ),
        (
            json.dumps(
                {
                    "hook_event_name": "PostToolUse",
                    "tool_name": "Edit",
                    "tool_input": {"file_path": "x.py"},
                }
            ),
            "needs old_string and new_string",
        ),
    ],
)
def test_malformed_payloads_exit_1(tmp_path: Path, stdin: str, fragment: str) -> None:
    assert_clean_error(run_hook(stdin, cwd=tmp_path), 1, fragment)


def test_bad_options_and_names_exit_1_not_2(tmp_path: Path) -> None:
    assert_clean_error(run_hook("{}", "--threshold", "high", cwd=tmp_path), 1, "--threshold")
    r = subprocess.run(
        [sys.executable, "-m", "codeprm", "hook", "claude"],
        input="{}",
        cwd=tmp_path,
        env={**os.environ, "CODEPRM_NO_DAEMON": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_clean_error(Result(r.returncode, r.stdout, r.stderr), 1, "No such command")


# -- rebuilding the text before (pure) -----------------------------------------------------------
@pytest.mark.parametrize(
    ("after", "r", "before"),
    [
        ("x = 2\ny = 1\n", Replacement("x = 1", "x = 2"), "x = 1\ny = 1\n"),
        ("a = b\nb = 3\n", Replacement("c", "b"), None),  # which b was c? more than one answer
        ("v = new_name(1)\n", Replacement("old", "new_name", replace_all=True), "v = old(1)\n"),
        (
            "f(new); g(new)\n",
            Replacement("old", "new", replace_all=True),
            None,
        ),  # one new may predate the edit
        ("print()\n", Replacement("x = 1\n", ""), None),  # a deletion: anywhere
        ("same\n", Replacement("s", "s"), "same\n"),
    ],
)
def test_unapply(after: str, r: Replacement, before: str | None) -> None:
    assert unapply(after, r) == before


def test_reconstruct_falls_back_to_original_file_then_to_unknown() -> None:
    data = {
        "hook_event_name": "PostToolUse",
        "tool_name": "Edit",
        "tool_input": {
            "file_path": "/w/a.py",
            "old_string": "1",
            "new_string": "2",
            "replace_all": True,
        },
        "tool_response": {"originalFile": "a = 1\nb = 1\n"},
    }
    before = reconstruct_before(parse_payload(json.dumps(data)), "a = 2\nb = 2\n")
    assert (before.text, before.source) == ("a = 1\nb = 1\n", "originalFile")
    del data["tool_response"]
    before = reconstruct_before(parse_payload(json.dumps(data)), "a = 2\nb = 2\n")
    assert before.source == "unknown" and before.note


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()
