"""Real OpenHands and SWE-agent outputs: the imported steps end exactly where the run's patch does.

The base files are the repositories' files at the runs' base commits (see
tests/fixtures/trajectories/real/README.md). Each check builds a real git repository of
the base, applies the submitted patch with ``git apply`` and compares it with the base
plus the imported steps.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from codeprm.errors import AmbiguousError, NotFoundError, UsageError
from codeprm.trajectories.common import WorkspaceFiles
from codeprm.trajectories.model import Step
from codeprm.trajectories.openhands import import_openhands
from codeprm.trajectories.swe_agent import import_swe_agent
from codeprm.workspace.edits import apply_to_texts

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "trajectories" / "real"
OUTPUT = REAL / "openhands_multi_swe_bench_output.jsonl"
RECORDS = [json.loads(line) for line in OUTPUT.read_text("utf-8").splitlines()]
TRAJS = sorted((REAL / "swe_agent").glob("*.traj"))


def git_repo(tmp_path: Path, base: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(base, repo)
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True)
    return repo


def submitted(repo: Path, patch: str) -> dict[str, str]:
    """The repository's files after ``git apply`` of the patch (read back from disk).

    SWE-agent 1.x read the patch through a terminal: every line ends in CRLF there,
    which ``git apply`` takes literally; OpenHands strips the final newline.
    """
    if "\r\n" in patch and patch.count("\r\n") == patch.count("\n"):
        patch = patch.replace("\r\n", "\n")
    patch = patch if patch.endswith("\n") else patch + "\n"
    subprocess.run(
        ["git", "apply", "--whitespace=nowarn", "-"], cwd=repo, input=patch.encode(), check=True
    )
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return {p: (repo / p).read_text("utf-8") for p in files.stdout.splitlines()}


def replayed(repo: Path, steps: list[Step]) -> dict[str, str]:
    files = subprocess.run(
        ["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True
    )
    texts = {p: (repo / p).read_text("utf-8") for p in files.stdout.splitlines()}
    for step in steps:
        texts = apply_to_texts(
            texts, step.change
        )  # raises unless each step starts where the last ended
    return texts


@pytest.mark.parametrize("record", RECORDS, ids=[r["instance_id"] for r in RECORDS])
def test_openhands_record_ends_at_its_git_patch(tmp_path: Path, record: dict) -> None:
    repo = git_repo(tmp_path, REAL / "openhands_base" / record["instance_id"])
    steps = import_openhands(OUTPUT, WorkspaceFiles(repo), instance_id=record["instance_id"])
    assert steps and all(s.source["instanceId"] == record["instance_id"] for s in steps)
    assert replayed(repo, steps) == submitted(repo, record["test_result"]["git_patch"])


def test_openhands_steps_per_record() -> None:
    counts = {}
    for record in RECORDS:
        base = WorkspaceFiles(REAL / "openhands_base" / record["instance_id"])
        steps = import_openhands(OUTPUT, base, instance_id=record["instance_id"])
        counts[record["instance_id"]] = [
            s.source.get("event") or s.source.get("from") for s in steps
        ]
    assert counts == {
        "ponylang__ponyc-4595": [32],
        "ponylang__ponyc-4593": [65],
        # the agent indented a line with `sed -i`: a closing step reaches the patch
        "ponylang__ponyc-4588": [30, 44, 46, 57, "test_result.git_patch"],
    }


def test_openhands_output_needs_an_instance_id() -> None:
    with pytest.raises(
        AmbiguousError,
        match=r"3 evaluation records; choose one with --instance-id \(ponylang__ponyc-4595, ",
    ):
        import_openhands(OUTPUT)
    with pytest.raises(NotFoundError, match="no record with instance_id 'nope'"):
        import_openhands(OUTPUT, instance_id="nope")


def test_openhands_missing_non_python_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"src/libponyc/ast/parser\.c is not in the workspace"):
        import_openhands(OUTPUT, WorkspaceFiles(tmp_path), instance_id="ponylang__ponyc-4595")


@pytest.mark.parametrize("bad", [["x"], {"a": 1}])
def test_unhashable_ids_are_usage_errors(bad: object) -> None:
    events = [
        {"id": 1, "action": "edit", "args": {}},
        {
            "id": 2,
            "cause": bad,
            "observation": "edit",
            "extras": {"path": "/workspace/a.py", "new_content": "x"},
        },
    ]
    with pytest.raises(UsageError, match='event 1: "cause" must be an integer or a string'):
        import_openhands(events)
    with pytest.raises(UsageError, match='"id" must be an integer or a string'):
        import_openhands([{"id": bad, "action": "run"}])


@pytest.mark.parametrize("traj", TRAJS, ids=[t.stem for t in TRAJS])
def test_swe_agent_run_ends_at_its_submission(tmp_path: Path, traj: Path) -> None:
    data = json.loads(traj.read_text("utf-8"))
    repo = git_repo(tmp_path, REAL / "swe_agent_base" / data["_fixture"]["base"])
    steps = import_swe_agent(traj, WorkspaceFiles(repo))
    assert all("fallback" not in s.source for s in steps)
    assert replayed(repo, steps) == submitted(repo, data["info"]["submission"])


def test_swe_agent_steps_per_edit_turn() -> None:
    counts = {}
    for traj in TRAJS:
        base = WorkspaceFiles(
            REAL / "swe_agent_base" / json.loads(traj.read_text("utf-8"))["_fixture"]["base"]
        )
        counts[traj.stem] = [
            (s.source["entry"], s.source["command"]) for s in import_swe_agent(traj, base)
        ]
    assert counts == {
        "marshmallow-1867__cursors": [(0, "create"), (1, "edit"), (8, "edit"), (10, "rm")],
        "marshmallow-1867__function_calling_replace": [
            (0, "create"),
            (1, "insert"),
            (7, "edit"),
            (9, "rm"),
        ],
        "pydicom__pydicom-1458": [(0, "create"), (1, "edit"), (8, "edit"), (10, "rm")],
        "swe-agent__test-repo-i1": [(2, "edit")],
    }


# -- the command line ------------------------------------------------------------------------
def test_cli_imports_one_record_and_explains_the_others(tmp_path: Path) -> None:
    from tests.conftest import assert_clean_error, run_cli

    repo = git_repo(tmp_path, REAL / "openhands_base" / "ponylang__ponyc-4588")
    ok = run_cli(
        "trajectory",
        "import",
        str(OUTPUT),
        "--from",
        "openhands",
        "--instance-id",
        "ponylang__ponyc-4588",
        "-w",
        str(repo),
    )
    assert ok.code == 0, ok.err
    lines = [json.loads(x) for x in ok.out.splitlines()]
    assert [x["files"][0]["path"] for x in lines] == ["src/libponyc/expr/match.c"] * 5
    assert_clean_error(
        run_cli("trajectory", "import", str(OUTPUT), "--from", "openhands", "-w", str(repo)),
        4,
        "--instance-id",
    )
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            [{"id": 1, "cause": [1], "observation": "edit", "extras": {"path": "/workspace/a.py"}}]
        ),
        "utf-8",
    )
    assert_clean_error(
        run_cli("trajectory", "import", str(bad), "--from", "openhands", "-w", str(repo)),
        2,
        "cause",
    )
