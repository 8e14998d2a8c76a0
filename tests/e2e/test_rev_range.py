"""``score --rev-range`` on real git history: every tracked file, states as git made them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import check_bundle, git, run_cli, tree

pytestmark = pytest.mark.e2e


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def score(repo: Path, rev: str, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    out = repo.parent / f"{repo.name}-bundles.jsonl"
    r = run_cli(
        "score", "-w", str(repo), "--rev-range", rev, "--json", "--bundles", str(out), *extra
    )
    assert r.code in (0, 78), r.err
    return r.code, [check_bundle(json.loads(line)) for line in out.read_text().splitlines()]


def diag_counts(repo: Path, sha: str) -> dict[str, int]:
    """What `codeprm diag` says on a checkout of ``sha`` (a worktree outside the repository)."""
    checkout = repo.parent / f"checkout-{sha[:10]}"
    git(repo, "worktree", "add", "-q", "--detach", str(checkout), sha)
    try:
        r = run_cli("diag", "-w", str(checkout), "--json")
        assert r.code == 0, r.err
        return json.loads(r.out)["facts"]["counts"]
    finally:
        git(repo, "worktree", "remove", "--force", str(checkout))


def test_the_issue_reproducer_exits_78(tmp_path: Path) -> None:
    repo = tmp_path / "m"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.py").write_text("x: int = 1\n")
    (repo / "NOTES.md").write_text("hi\n")
    commit(repo, "base")
    (repo / "a.py").write_text('x: int = "s"\n')
    (repo / "NOTES.md").write_text("hi\nmore\n")
    commit(repo, "bad + notes")
    (repo / "a.py").write_text("x: int = 2\n")
    commit(repo, "fix")
    r = run_cli("score", "--rev-range", "HEAD~2..HEAD", "--fail-on-new-errors", cwd=repo)
    assert r.code == 78, (r.code, r.out, r.err)
    _, bundles = score(repo, "HEAD~2..HEAD")
    assert [b["facts"]["safety"]["passed"] for b in bundles] == [True, True]
    assert [b["facts"]["after"]["counts"]["error"] for b in bundles] == [1, 0]
    assert [b["meta"]["subject"] for b in bundles] == ["bad + notes", "fix"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Commits touching text, binary, symlink, mode, submodule, rename, copy and delete, with Python errors moving."""
    repo = tmp_path_factory.mktemp("hist") / "repo"
    (repo / "pkg").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / "pkg/__init__.py").write_text("")
    (repo / "pkg/util.py").write_text("def f(x: int) -> int:\n    return x\n")
    (repo / "pkg/app.py").write_text("from pkg.util import f\n\nf(1)\n")
    (repo / "README.md").write_text("readme\n")
    (repo / "logo.bin").write_bytes(b"\x89PNG\0\0\1")
    (repo / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    commit(repo, "base")
    # 1: Python, Markdown and a binary file in one commit; an error in app.py
    (repo / "pkg/app.py").write_text('from pkg.util import f\n\nf("s")\n')
    (repo / "README.md").write_text("readme\nchanged\n")
    (repo / "logo.bin").write_bytes(b"\x89PNG\0\0\2")
    (repo / "docs").mkdir()
    (repo / "docs/notes.rst").write_text("notes\n")
    commit(repo, "break app, touch docs and the logo")
    # 2: a symlink, a mode change and a C file
    os.symlink("README.md", repo / "LINK.md")
    (repo / "pkg/util.py").chmod(0o755)
    (repo / "ext.c").write_text("int main(void) { return 0; }\n")
    commit(repo, "symlink, chmod, C")
    # 3: rename the module the app imports (the app now fails to import it)
    git(repo, "mv", "pkg/util.py", "pkg/helpers.py")
    commit(repo, "rename util -> helpers")
    # 4: fix the import; copy a module; a submodule pointer (a gitlink added to the index)
    (repo / "pkg/app.py").write_text('from pkg.helpers import f\n\nf("s")\n')
    shutil.copy(repo / "pkg/helpers.py", repo / "pkg/copy.py")
    git(repo, "add", "-A")
    git(
        repo,
        "update-index",
        "--add",
        "--cacheinfo",
        "160000,1111111111111111111111111111111111111111,vendor/sub",
    )
    git(repo, "commit", "-qm", "import helpers, copy, submodule")
    # 5: move the submodule pointer, delete the copy and the symlink, turn the text file binary
    git(
        repo,
        "update-index",
        "--cacheinfo",
        "160000,2222222222222222222222222222222222222222,vendor/sub",
    )
    (repo / "pkg/copy.py").unlink()
    (repo / "LINK.md").unlink()
    (repo / "latin1.txt").write_bytes(b"\0binary now")
    git(repo, "add", "-A", "pkg", "LINK.md", "latin1.txt")
    git(repo, "commit", "-qm", "move submodule, delete copy and link")
    # 6: fix the call
    (repo / "pkg/app.py").write_text("from pkg.helpers import f\n\nf(2)\n")
    (repo / "README.md").unlink()
    git(repo, "add", "-A", "pkg", "README.md")
    git(repo, "commit", "-qm", "fix the call, drop the readme")
    return repo


def test_every_state_agrees_with_diag_on_a_checkout_and_no_commit_is_unsafe(history: Path) -> None:
    before = tree(history)
    code, bundles = score(history, "HEAD~6..HEAD", "--fail-on-new-errors")
    assert code == 78  # commit 1 and commit 3 introduce errors
    assert len(bundles) == 6
    assert all(b["facts"]["safety"]["passed"] for b in bundles)
    shas = git(history, "rev-list", "--first-parent", "--reverse", "HEAD~6..HEAD").split()
    assert [b["meta"]["commit"] for b in bundles] == shas
    for b, sha in zip(bundles, shas, strict=True):
        want = diag_counts(history, sha)
        got = b["facts"]["after"]["counts"]
        assert (got["error"], got["warning"]) == (want["error"], want["warning"]), (
            b["meta"]["subject"],
            got,
            want,
        )
    errors = [b["facts"]["after"]["counts"]["error"] for b in bundles]
    assert errors == [1, 1, 1, 1, 1, 0], errors
    # the rename leaves the app importing a module that no longer exists (on the commit's disk)
    assert any("pkg.util" in d["message"] for d in bundles[2]["facts"]["introduced"]), bundles[2][
        "facts"
    ]["introduced"]
    renamed = bundles[2]["edits"]
    assert {"path": "pkg/helpers.py", "renamedFrom": "pkg/util.py"}.items() <= next(
        e for e in renamed if e["path"] == "pkg/helpers.py"
    ).items()
    assert bundles[1]["meta"]["modeChanges"] == ["pkg/util.py"]
    assert (
        "pkg/helpers.py" in bundles[2]["facts"]["covered"]
        and "pkg/copy.py" in bundles[3]["facts"]["covered"]
    )
    assert tree(history) == before  # scoring never writes the workspace


def test_states_hold_every_tracked_file_from_git_objects(history: Path) -> None:
    from codeprm.workspace.history import commit_steps

    h = commit_steps(history, "HEAD~6..HEAD")
    state = dict(h.base_texts)
    assert (
        state["README.md"] == "readme\n"
        and state["logo.bin"].startswith("\0blob ")
        and state["latin1.txt"].startswith("\0blob ")
    )
    from codeprm.workspace.edits import apply_to_texts

    states = []
    for step in h.steps:
        state = apply_to_texts(state, step.change)
        states.append(state)
    listed = git(history, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert sorted(states[-1]) == sorted(listed)
    assert states[1]["LINK.md"] == "\0symlink README.md"
    assert (
        states[3]["vendor/sub"] == "\0submodule " + "1" * 40
        and states[4]["vendor/sub"] == "\0submodule " + "2" * 40
    )
    assert (
        "pkg/copy.py" in states[3] and "pkg/copy.py" not in states[4] and "LINK.md" not in states[4]
    )


def test_a_scratch_checkout_mirrors_each_commit(history: Path) -> None:
    from codeprm.workspace.checkout import ScratchCheckout
    from codeprm.workspace.history import commit_steps

    h = commit_steps(history, "HEAD~6..HEAD")
    with ScratchCheckout(h.git_dir, h.base_tree) as co:
        root = co.root
        for step in h.steps:
            co.apply(step.tree)
            want = subprocess.run(
                ["git", "ls-tree", "-r", step.sha],
                cwd=history,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split("\n")
            for line in filter(None, want):
                meta, path = line.split("\t")
                mode = meta.split()[0]
                target = root / path
                if mode == "120000":
                    assert target.is_symlink()
                elif mode == "160000":
                    assert target.is_dir()
                else:
                    assert (
                        target.read_bytes()
                        == subprocess.run(
                            ["git", "cat-file", "blob", meta.split()[2]],
                            cwd=history,
                            check=True,
                            capture_output=True,
                        ).stdout
                    )
                    assert bool(target.stat().st_mode & 0o100) == (mode == "100755")
            on_disk = {
                p.relative_to(root).as_posix()
                for p in root.rglob("*")
                if p.is_file() or p.is_symlink() or (p.is_dir() and not any(p.iterdir()))
            }
            assert on_disk == {line.split("\t")[1] for line in want if line}
    assert not root.exists()


def test_progress_moves_step_by_step(history: Path) -> None:
    """The progress callback fires once per step, right after that step's bundle."""
    from codeprm.analysis.revrange import score_range
    from codeprm.analysis.step import StepEngine
    from codeprm.workspace.history import commit_steps

    events: list[tuple[str, int]] = []
    score_range(
        history,
        commit_steps(history, "HEAD~3..HEAD"),
        StepEngine,
        on_bundle=lambda b: events.append(("bundle", b["request"]["params"]["stepIndex"])),
        on_progress=lambda done, total: events.append(("progress", done)),
    )
    assert events == [
        ("bundle", 0),
        ("progress", 1),
        ("bundle", 1),
        ("progress", 2),
        ("bundle", 2),
        ("progress", 3),
    ]


def test_the_progress_bar_shows_each_step_on_a_terminal(history: Path, tmp_path: Path) -> None:
    script = shutil.which("script")
    if script is None:
        pytest.skip("no script(1) to give the command a terminal")
    log = tmp_path / "typescript"
    import sys

    cmd = f"{sys.executable} -m codeprm score -w {history} --rev-range HEAD~6..HEAD"
    subprocess.run(
        [script, "-qfc", cmd, str(log)],
        check=False,
        capture_output=True,
        timeout=300,
        env={**os.environ, "CODEPRM_NO_DAEMON": "1"},
    )
    shown = log.read_text("utf-8", "replace")
    assert "6/6" in shown
    seen = {n for n in range(7) if f"{n}/6" in shown}
    assert len(seen) >= 3, seen  # the bar moved through intermediate steps, not 0 then done


def test_a_commit_that_changes_the_server_configuration_is_measured_under_it(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "cfg"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.pyright]\ntypeCheckingMode = "basic"\n'
    )
    (repo / "a.py").write_text("def f(x):\n    return x\n")
    commit(repo, "base")
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.pyright]\ntypeCheckingMode = "strict"\n'
    )
    commit(repo, "strict")
    (repo / "a.py").write_text("def f(x):\n    return x\n\n\nf(1)\n")
    commit(repo, "call f")
    _, bundles = score(repo, "HEAD~2..HEAD")
    shas = git(repo, "rev-list", "--reverse", "HEAD~2..HEAD").split()
    got = [
        (b["facts"]["after"]["counts"]["error"], b["facts"]["after"]["counts"]["warning"])
        for b in bundles
    ]
    want = [(c["error"], c["warning"]) for c in (diag_counts(repo, sha) for sha in shas)]
    assert got == want and want[0] != (0, 0), (got, want)


def test_a_base_that_is_no_ancestor_still_gives_each_commits_tree(tmp_path: Path) -> None:
    from codeprm.workspace.edits import apply_to_texts
    from codeprm.workspace.history import commit_steps

    repo = tmp_path / "branches"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.py").write_text("x = 0\n")
    commit(repo, "c0")
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "a.py").write_text("x = 'side'\n")
    (repo / "side.txt").write_text("only on side\n")
    commit(repo, "s1")
    git(repo, "checkout", "-q", "main")
    (repo / "a.py").write_text("x = 1\n")
    commit(repo, "c1")
    h = commit_steps(repo, "side..main")
    assert [s.subject for s in h.steps] == ["c1"]
    after = apply_to_texts(h.base_texts, h.steps[0].change)
    assert after == {"a.py": "x = 1\n"}
