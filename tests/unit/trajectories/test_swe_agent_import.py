"""SWE-agent .traj import: steps from consecutive cumulative diffs, leniency, clear errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from codeprm.errors import ApplyConflictError, UsageError
from codeprm.trajectories.model import Step, read_jsonl, write_jsonl
from codeprm.trajectories.swe_agent import import_swe_agent
from codeprm.workspace.edits import apply_to_texts

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "trajectories"
TRAJ = FIXTURES / "swe_agent_calc.traj"


def base_texts() -> dict[str, str]:
    root = FIXTURES / "calc_base"
    return {
        p.relative_to(root).as_posix(): p.read_text("utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def traj(*diffs: str | None, **extra: Any) -> dict[str, Any]:
    """A minimal .traj: one entry per diff (None: the entry's state has no diff)."""
    entries = []
    for n, diff in enumerate(diffs):
        state: dict[str, Any] = {"working_dir": "/testbed"}
        if diff is not None:
            state["diff"] = diff.strip()  # as SWE-agent stores it
        entries.append(
            {"action": f"action {n}\nsecond line", "observation": "", "thought": "", "state": state}
        )
    return {"trajectory": entries, "history": [], "info": {}, **extra}


def replay(base: dict[str, str], steps: list[Step]) -> dict[str, str]:
    texts = dict(base)
    for step in steps:
        texts = apply_to_texts(
            texts, step.change
        )  # raises unless each step starts where the last ended
    return texts


A = "a.py"
BASE = {A: "x = 1\ny = 2\n"}
D1 = "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n-x = 1\n+x = 10\n y = 2\n"
D2 = (
    D1
    + "diff --git a/b.py b/b.py\nnew file mode 100644\n--- /dev/null\n+++ b/b.py\n@@ -0,0 +1 @@\n+z = 3\n"
)


# -- the fixture -----------------------------------------------------------------------------
def test_fixture_steps_are_the_entries_whose_diff_changed() -> None:
    steps = import_swe_agent(TRAJ, base_texts())
    assert [s.index for s in steps] == [0, 1, 2, 3]
    assert [s.source["entry"] for s in steps] == [
        1,
        2,
        4,
        5,
    ]  # 0 (empty), 3 and 6 (same diff) skipped
    assert [[(e.path, e.kind) for e in s.change.edits] for s in steps] == [
        [("pkg/calc.py", "modify")],
        [("reproduce.py", "create")],
        [("pkg/calc.py", "modify")],
        [("reproduce.py", "delete")],
    ]
    assert all(s.source["kind"] == "swe-agent" for s in steps)
    assert steps[3].source["action"] == "rm /testbed/reproduce.py"
    assert steps[1].source["action"].startswith("str_replace_editor create /testbed/reproduce.py")
    assert "\n" not in steps[1].source["action"]


def test_fixture_steps_chain_to_the_submission() -> None:
    base = base_texts()
    steps = import_swe_agent(TRAJ, base)
    final = replay(base, steps)
    calc = final["pkg/calc.py"]
    assert 'raise ValueError("b must not be zero")' in calc
    assert 'raise ValueError("mean of an empty sequence")' in calc
    assert "reproduce.py" not in final
    assert {k: v for k, v in final.items() if k != "pkg/calc.py"} == {
        k: v for k, v in base.items() if k != "pkg/calc.py"
    }
    # the first edit's diff ends in two blank context lines that SWE-agent's strip() removed
    assert steps[0].change.edits[0].old_text == base["pkg/calc.py"]


def test_task_is_the_first_user_message() -> None:
    steps = import_swe_agent(TRAJ, base_texts())
    assert steps[0].task is not None and "<pr_description>" in steps[0].task
    assert {s.task for s in steps} == {steps[0].task}


def test_dict_input_matches_file_input_and_steps_round_trip() -> None:
    from_file = import_swe_agent(TRAJ, base_texts())
    from_dict = import_swe_agent(json.loads(TRAJ.read_text("utf-8")), base_texts())
    assert from_file == from_dict
    buf = io.StringIO()
    write_jsonl(from_file, buf)
    assert [s.to_json() for s in from_file] == [
        json.loads(line) for line in buf.getvalue().splitlines()
    ]


def test_steps_survive_the_jsonl_format(tmp_path: Path) -> None:
    steps = import_swe_agent(TRAJ, base_texts())
    out = tmp_path / "t.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        write_jsonl(steps, fh)
    assert list(read_jsonl(out)) == steps


# -- versions and leniency -------------------------------------------------------------------
def test_state_as_a_json_string() -> None:
    data = traj(D1)
    data["trajectory"][0]["state"] = json.dumps(data["trajectory"][0]["state"])
    (step,) = import_swe_agent(data, BASE)
    assert step.change.edits[0].new_text == "x = 10\ny = 2\n"


def test_entries_without_diff_or_state_are_skipped() -> None:
    data = traj(None, D1, None, D1, D2)
    del data["trajectory"][0]["state"]
    steps = import_swe_agent(data, BASE)
    assert [s.source["entry"] for s in steps] == [1, 4]
    assert steps[1].change.paths == ("b.py",)
    assert steps[0].source["action"] == "action 1"


def test_reverting_everything_is_a_step() -> None:
    steps = import_swe_agent(traj("", D1, ""), BASE)
    assert [s.source["entry"] for s in steps] == [1, 2]
    assert steps[1].change.edits[0].new_text == BASE[A]


def test_no_diffs_fall_back_to_the_submission() -> None:
    data = traj(None, None, info={"submission": D2, "exit_status": "submitted"})
    (step,) = import_swe_agent(data, BASE)
    assert step.source == {
        "kind": "swe-agent",
        "entry": None,
        "action": "submit",
        "from": "info.submission",
        "fallback": "one step from the submitted patch: no edit command the importer can replay",
    }
    assert step.change.paths == ("a.py", "b.py")


def test_no_diffs_and_no_submission_is_no_steps() -> None:
    assert import_swe_agent(traj(None, None), BASE) == []


def test_rename_in_the_cumulative_diff() -> None:
    rename = "diff --git a/a.py b/c.py\nsimilarity index 100%\nrename from a.py\nrename to c.py\n"
    (step,) = import_swe_agent(traj(rename), BASE)
    created = step.change.get("c.py")
    assert created is not None and created.renamed_from == "a.py" and created.new_text == BASE[A]


def test_binary_patches_are_left_out_and_named() -> None:
    binary = "diff --git a/logo.png b/logo.png\nnew file mode 100644\nindex 0000000..1111111\nBinary files /dev/null and b/logo.png differ\n"
    (step,) = import_swe_agent(traj(binary + D1), BASE)
    assert step.change.paths == ("a.py",)
    assert step.source["binaryPathsSkipped"] == ["logo.png"]
    assert import_swe_agent(traj(binary), BASE) == []  # nothing a text step can show


def test_mode_changes_are_ignored_but_not_their_text() -> None:
    chmod = "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n"
    with_text = D1.replace("--- a/a.py", "old mode 100644\nnew mode 100755\nindex 1..2\n--- a/a.py")
    assert import_swe_agent(traj(chmod), BASE) == []
    (step,) = import_swe_agent(traj(chmod + with_text), BASE)
    assert step.change.edits[0].new_text == "x = 10\ny = 2\n"


def test_history_content_as_string() -> None:
    data = traj(
        D1, history=[{"role": "system", "content": "sys"}, {"role": "user", "content": "fix it"}]
    )
    assert import_swe_agent(data, BASE)[0].task == "fix it"


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[1, 2]", 'expected a JSON object with a "trajectory" list'),
        ('{"history": []}', 'expected a JSON object with a "trajectory" list'),
        ("{not json", "invalid JSON"),
        ('{"trajectory": [42]}', "trajectory entry 0: expected a JSON object"),
        (
            '{"trajectory": [{"state": "{oops"}]}',
            'trajectory entry 0: "state" is a string but not JSON',
        ),
        ('{"trajectory": [{"state": {"diff": 3}}]}', "trajectory entry 0: state.diff must be text"),
    ],
)
def test_not_a_trajectory_is_a_usage_error(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "x.traj"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError) as info:
        import_swe_agent(path, BASE)
    assert fragment in info.value.message
    assert info.value.exit_code == 2


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        import_swe_agent(tmp_path / "missing.traj", BASE)


def test_diff_that_does_not_apply_names_the_entry() -> None:
    stale = D1.replace("-x = 1", "-x = 7")
    with pytest.raises(ApplyConflictError) as info:
        import_swe_agent(traj("", D1, stale), BASE)
    assert info.value.message.startswith("trajectory entry 2: ")
    assert info.value.details["entry"] == 2
    assert info.value.exit_code == 70


def test_diff_of_a_file_missing_from_the_base_names_the_entry() -> None:
    with pytest.raises(ApplyConflictError, match=r"trajectory entry 0: .*a\.py does not exist"):
        import_swe_agent(traj(D1), {})


def test_malformed_diff_names_the_entry() -> None:
    with pytest.raises(UsageError, match="trajectory entry 0: malformed diff"):
        import_swe_agent(
            traj(
                "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1,5 +1,5 @@\n-x = 1\n+x = 2\n+y"
            ),
            BASE,
        )
