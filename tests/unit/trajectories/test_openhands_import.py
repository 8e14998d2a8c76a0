"""OpenHands event-stream import: whole-file and oh_aci edits, prefixes, formats, checks."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest

from codeprm.errors import ContentModifiedError, UsageError
from codeprm.trajectories.model import Step
from codeprm.trajectories.openhands import _apply_lossy_diff, import_openhands
from codeprm.workspace.edits import apply_to_texts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "trajectories"
ACI_EVENTS = FIXTURES / "openhands_calc_events.json"
WHOLE_EVENTS = FIXTURES / "openhands_calc_whole.jsonl"


def base_texts() -> dict[str, str]:
    root = FIXTURES / "calc_base"
    return {
        p.relative_to(root).as_posix(): p.read_text("utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def get_diff(old: str, new: str, path: str) -> str:
    """What OpenHands stores in extras.diff for oh_aci edits (openhands_aci.utils.diff.get_diff)."""
    lines = difflib.unified_diff(old.split("\n"), new.split("\n"), fromfile=path, tofile=path, n=0)
    return "\n".join(x.rstrip() for x in lines)


def whole_edit(
    eid: int,
    path: str,
    old: str | None,
    new: str,
    *,
    impl: str = "llm_based_edit",
    diff: bool = False,
) -> dict[str, Any]:
    extras: dict[str, Any] = {
        "path": path,
        "prev_exist": old is not None,
        "old_content": old,
        "new_content": new,
        "impl_source": impl,
    }
    if diff:
        extras["diff"] = get_diff(old or "", new, path)
    return {"id": eid, "source": "agent", "observation": "edit", "content": "", "extras": extras}


def aci_edit(
    eid: int, path: str, before: str, after: str, command: str, **args: Any
) -> list[dict[str, Any]]:
    """An oh_aci edit as OpenHands records it: the action, then an observation carrying snippets."""
    action = {
        "id": eid,
        "source": "agent",
        "action": "edit",
        "args": {"path": path, "command": command, "impl_source": "oh_aci", **args},
    }
    observation = {
        "id": eid + 1,
        "cause": eid,
        "source": "agent",
        "observation": "edit",
        "content": "edited",
        "extras": {
            "path": path,
            "prev_exist": False,
            "old_content": args.get("old_str"),
            "new_content": args.get("new_str"),
            "impl_source": "oh_aci",
            "diff": get_diff(before, after, path),
        },
    }
    return [action, observation]


def replay(base: dict[str, str], steps: list[Step]) -> dict[str, str]:
    texts = dict(base)
    for step in steps:
        texts = apply_to_texts(texts, step.change)
    return texts


# -- oh_aci fixture (what current OpenHands writes) ------------------------------------------
def test_aci_fixture_rebuilds_whole_files_from_the_base() -> None:
    base = base_texts()
    steps = import_openhands(ACI_EVENTS, base)
    assert [(s.index, s.source["event"], s.source.get("command")) for s in steps] == [
        (0, 7, "str_replace"),
        (1, 9, "create"),
        (2, 15, "insert"),  # event 13, the failed str_replace, changed nothing
    ]
    assert [[(e.path, e.kind) for e in s.change.edits] for s in steps] == [
        [("pkg/calc.py", "modify")],
        [("tests/test_calc.py", "create")],
        [("pkg/calc.py", "modify")],
    ]
    final = replay(base, steps)
    # the inserted comment ends in a space that the stored diff lost; the exact replay kept it
    assert (
        "    # b == 0 is rejected above; keep the message in sync with docs \n"
        in final["pkg/calc.py"]
    )
    assert final["tests/test_calc.py"].startswith("import pytest\n")
    assert steps[0].source["path"] == "/workspace/pkg/calc.py"
    assert steps[0].source["implSource"] == "oh_aci"


def test_task_is_the_first_user_message() -> None:
    steps = import_openhands(ACI_EVENTS, base_texts())
    assert steps[0].task is not None and "<issue_description>" in steps[0].task


def test_aci_snippets_without_base_texts_are_a_clear_error() -> None:
    with pytest.raises(
        UsageError, match=r"event 7: cannot rebuild /workspace/pkg/calc\.py.*pass base_texts"
    ):
        import_openhands(ACI_EVENTS)


def test_aci_edit_of_a_file_created_in_the_stream_needs_no_base() -> None:
    text = "a = 1\nb = 2\n"
    events = [
        *aci_edit(1, "/workspace/new.py", "", text, "create", file_text=text),
        *aci_edit(
            3,
            "/workspace/new.py",
            text,
            "a = 1\nb = 3\n",
            "str_replace",
            old_str="b = 2",
            new_str="b = 3",
        ),
    ]
    steps = import_openhands(events)
    assert [(s.change.edits[0].old_text, s.change.edits[0].new_text) for s in steps] == [
        (None, text),
        (text, "a = 1\nb = 3\n"),
    ]


def test_aci_diff_that_does_not_fit_the_base_is_content_modified() -> None:
    base = {"m.py": "x = 1\n"}
    events = aci_edit(
        4, "/workspace/m.py", "x = 2\n", "x = 3\n", "str_replace", old_str="x = 2", new_str="x = 3"
    )
    with pytest.raises(ContentModifiedError) as info:
        import_openhands(events, base)
    assert info.value.message.startswith("event 5: m.py")
    assert info.value.details["event"] == 5 and info.value.exit_code == 74


def test_aci_edit_without_an_exact_replay_uses_the_diff() -> None:
    base = {"m.py": "a\nb\nc\n"}
    undo = aci_edit(1, "/workspace/m.py", base["m.py"], "a\nc\n", "undo_edit")
    (step,) = import_openhands(undo, base)
    assert step.change.edits[0].new_text == "a\nc\n"


def test_top_of_file_snippet_without_its_action_is_not_taken_for_the_file() -> None:
    """A snippet from line 1 also fits the diff as if it were a whole file; the base tells them apart."""
    before = "import os\nimport sys\n\nprint(os, sys)\n"
    after = "import os\nimport re\nimport sys\n\nprint(os, sys)\n"
    (_, observation) = aci_edit(
        1,
        "/workspace/m.py",
        before,
        after,
        "str_replace",
        old_str="import os\nimport sys",
        new_str="import os\nimport re\nimport sys",
    )
    del observation["cause"]
    (step,) = import_openhands([observation], {"m.py": before})
    assert (step.change.edits[0].old_text, step.change.edits[0].new_text) == (before, after)


def test_whole_file_snippet_is_taken_when_it_is_the_whole_file() -> None:
    base = {"m.py": "x = 1\n"}
    events = aci_edit(
        1,
        "/workspace/m.py",
        "x = 1\n",
        "y = 2\n",
        "str_replace",
        old_str="x = 1\n",
        new_str="y = 2\n",
    )
    (step,) = import_openhands(events, base)
    assert step.change.edits[0].new_text == "y = 2\n"


# -- whole-file edits ------------------------------------------------------------------------
def test_whole_file_jsonl_fixture_with_and_without_base() -> None:
    without = import_openhands(WHOLE_EVENTS)
    with_base = import_openhands(WHOLE_EVENTS, base_texts())
    assert without == with_base
    assert [[(e.path, e.kind) for e in s.change.edits] for s in without] == [
        [("pkg/calc.py", "modify")],
        [("docs/NOTES.md", "create")],
    ]
    assert without[0].task == "Make mean() reject an empty list."
    assert without[0].change.edits[0].old_text == base_texts()["pkg/calc.py"]


def test_whole_file_mismatch_with_base_names_the_event() -> None:
    base = base_texts()
    base["pkg/calc.py"] += "# changed outside the stream\n"
    with pytest.raises(ContentModifiedError, match=r"^event 2: pkg/calc\.py"):
        import_openhands(WHOLE_EVENTS, base)


def test_created_file_that_exists_in_the_base_is_content_modified() -> None:
    with pytest.raises(ContentModifiedError, match="event 1"):
        import_openhands([whole_edit(1, "/workspace/a.py", None, "x\n")], {"a.py": "y\n"})


def test_aci_observation_with_whole_texts_and_diff() -> None:
    """The shape some exporters write: impl_source oh_aci, yet whole texts in old/new_content."""
    old, new = "def f():\n    return 1\n", "def f():\n    return 2\n"
    events = [whole_edit(12, "/workspace/pkg/a.py", old, new, impl="oh_aci", diff=True)]
    (step,) = import_openhands(events)
    assert (step.change.edits[0].old_text, step.change.edits[0].new_text) == (old, new)
    assert import_openhands(events, {"pkg/a.py": old}) == [step]
    with pytest.raises(ContentModifiedError, match=r"^event 12: "):
        import_openhands(events, {"pkg/a.py": "def g():\n    return 1\n"})


def test_without_base_a_later_whole_file_edit_is_trusted() -> None:
    events = [
        whole_edit(1, "/workspace/a.py", "1\n", "2\n"),
        whole_edit(2, "/workspace/a.py", "3\n", "4\n"),
    ]
    steps = import_openhands(events)
    assert [(s.change.edits[0].old_text, s.change.edits[0].new_text) for s in steps] == [
        ("1\n", "2\n"),
        ("3\n", "4\n"),
    ]
    with pytest.raises(ContentModifiedError, match="event 2"):
        import_openhands(events, {"a.py": "1\n"})


def test_unchanged_and_other_events_make_no_steps() -> None:
    events = [
        {"id": 0, "source": "user", "action": "message", "args": {"content": "go"}},
        {"id": 1, "source": "agent", "action": "run", "args": {"command": "ls"}},
        {"id": 2, "source": "agent", "observation": "run", "content": "a.py", "extras": {}},
        {
            "id": 3,
            "source": "agent",
            "observation": "write",
            "content": "",
            "extras": {"path": "/workspace/b.py"},
        },
        whole_edit(4, "/workspace/a.py", "x\n", "x\n"),
    ]
    assert import_openhands(events) == []


# -- paths -----------------------------------------------------------------------------------
def test_nested_repository_prefix_is_found_from_the_base() -> None:
    events = [whole_edit(1, "/workspace/django__django-3.0/pkg/a.py", "x\n", "y\n")]
    # a SWE-bench sandbox directory (owner__repo) is stripped even with no base at hand
    assert import_openhands(events)[0].change.paths == ("pkg/a.py",)
    assert import_openhands(events, {"pkg/a.py": "x\n"})[0].change.paths == ("pkg/a.py",)
    other = [whole_edit(1, "/workspace/project/pkg/a.py", "x\n", "y\n")]
    assert import_openhands(other)[0].change.paths == ("project/pkg/a.py",)
    assert import_openhands(other, {"pkg/a.py": "x\n"})[0].change.paths == ("pkg/a.py",)


@pytest.mark.parametrize("root", ["/testbed", "/repo"])
def test_sandbox_roots_are_stripped(root: str) -> None:
    events = [whole_edit(1, f"{root}/src/pkg/a.py", "x\n", "y\n")]
    assert import_openhands(events)[0].change.paths == ("src/pkg/a.py",)


def test_common_directory_outside_workspace() -> None:
    events = [
        whole_edit(1, "/srv/sbx/pkg/a.py", "x\n", "y\n"),
        whole_edit(2, "/srv/sbx/b.py", None, "z\n"),
    ]
    assert [s.change.paths for s in import_openhands(events)] == [("pkg/a.py",), ("b.py",)]


def test_explicit_strip_prefix() -> None:
    events = [whole_edit(1, "/repo/src/a.py", "x\n", "y\n")]
    assert import_openhands(events, strip_prefix="/repo")[0].change.paths == ("src/a.py",)
    with pytest.raises(
        UsageError, match=r"event 1: /repo/src/a\.py is not under the sandbox prefix /other/"
    ):
        import_openhands(events, strip_prefix="/other/")


def test_relative_and_escaping_paths() -> None:
    assert import_openhands([whole_edit(1, "./pkg//a.py", "x\n", "y\n")])[0].change.paths == (
        "pkg/a.py",
    )
    with pytest.raises(UsageError, match="does not name a file inside the workspace"):
        import_openhands(
            [whole_edit(1, "/workspace/../etc/passwd", "x\n", "y\n")], strip_prefix="/workspace/"
        )


# -- formats ---------------------------------------------------------------------------------
def test_list_jsonl_history_and_directory_agree(tmp_path: Path) -> None:
    events = json.loads(ACI_EVENTS.read_text("utf-8"))
    expected = import_openhands(events, base_texts())
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    record = tmp_path / "output.jsonl"
    record.write_text(
        json.dumps({"instance_id": "calc-1", "history": events}) + "\n", encoding="utf-8"
    )
    folder = tmp_path / "events"
    folder.mkdir()
    for e in events:  # 10.json must come after 9.json
        (folder / f"{e['id']}.json").write_text(json.dumps(e), encoding="utf-8")
    for source in (ACI_EVENTS, str(ACI_EVENTS), jsonl, folder):
        assert import_openhands(source, base_texts()) == expected
    from_record = import_openhands(record, base_texts())  # a record's steps name its instance
    assert {s.source.pop("instanceId") for s in from_record} == {"calc-1"}
    assert from_record == expected


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"instance_id": "x"}', "expected a list of events"),
        ("42", "expected a list of events"),
        ('{"id": 1, "action": "run"}\n{oops\n', ":2: not an OpenHands event stream: invalid JSON"),
        ('[{"id": 1, "kind": "other"}]', 'no event has an "action" or "observation"'),
        ("[1]", "event 0 is not a JSON object"),
        ("", "empty"),
        (
            '[{"id": 3, "observation": "edit", "extras": {"old_content": "x"}}]',
            "event 3: an edit observation without a path",
        ),
        ('[{"id": 3, "observation": "edit"}]', 'event 3: an edit observation without "extras"'),
    ],
)
def test_not_an_event_stream_is_a_usage_error(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "events.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError) as info:
        import_openhands(path)
    assert fragment in info.value.message


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        import_openhands(tmp_path / "missing.json")
    with pytest.raises(UsageError, match=r"no \*\.json event files"):
        import_openhands(tmp_path)
    with pytest.raises(UsageError, match="list of event objects"):
        import_openhands({"events": []})  # type: ignore[arg-type]


# -- the lossy diff --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("a\nb\nc\n", "a\nB\nc\n"),
        ("a\nb\nc\n", "x\na\nb\nc\n"),
        ("a\nb\nc\n", "a\nc\n"),
        ("a\nb\nc", "a\nb\nc\nd"),
        ("", "new\nfile\n"),
        ("a\n\n\nb\n", "a\nb\n"),
        ("a\r\nb\r\nc\r\n", "a\r\nB\r\nx\r\nc\r\n"),
    ],
)
def test_lossy_diff_round_trips(old: str, new: str) -> None:
    assert _apply_lossy_diff(old, get_diff(old, new, "/workspace/f")) == new


def test_lossy_diff_refuses_what_does_not_fit() -> None:
    assert _apply_lossy_diff("a\nz\nc\n", get_diff("a\nb\nc\n", "a\nB\nc\n", "f")) is None
    assert _apply_lossy_diff("a\n", get_diff("a\nb\nc\nd\n", "a\nb\nc\nD\n", "f")) is None
