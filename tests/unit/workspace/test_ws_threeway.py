"""git apply --3way mode: clean merges are written transactionally, conflicts come back as data."""

from __future__ import annotations

from pathlib import Path

import git
import pytest
from ws_helpers import check_error, make_repo, tree

from codeprm.workspace import ApplyOptions, apply_diff

BASE = "".join(f"line {i}\n" for i in range(1, 13))


@pytest.fixture
def drifted(tmp_path: Path) -> tuple[Path, str]:
    """A repo whose f.txt moved on (lines 5 and 10 edited, committed) after a diff editing line 2 was made."""
    root = make_repo(tmp_path / "r", {"f.txt": BASE, "g.txt": "g\n"})
    r = git.Repo(root)
    (root / "f.txt").write_text(BASE.replace("line 2\n", "LINE TWO\n"))
    (root / "g.txt").write_text("G\n")
    diff = r.git.diff() + "\n"
    r.git.checkout("--", ".")
    (root / "f.txt").write_text(
        BASE.replace("line 10\n", "line ten\n").replace("line 5\n", "line five\n")
    )
    r.git.commit("-qam", "drift")
    r.close()
    return root, diff


def test_clean_three_way_merge_is_applied(drifted: tuple[Path, str]) -> None:
    root, diff = drifted
    check_error(
        lambda: apply_diff(root, diff), 70
    )  # the plain apply cannot find line 5 in its context
    result = apply_diff(root, diff, three_way=True)
    expected = (
        BASE.replace("line 5\n", "line five\n")
        .replace("line 2\n", "LINE TWO\n")
        .replace("line 10\n", "line ten\n")
    )
    assert (root / "f.txt").read_text() == expected
    assert (root / "g.txt").read_text() == "G\n"
    assert sorted(result.change.paths) == ["f.txt", "g.txt"]
    r = git.Repo(root)
    assert r.git.diff("--cached") == ""  # the user's index is not touched
    assert not r.index.unmerged_blobs()
    r.close()


def test_conflict_is_70_with_regions_and_nothing_written(drifted: tuple[Path, str]) -> None:
    root, diff = drifted
    (root / "f.txt").write_text(BASE.replace("line 2\n", "line deux\n"))
    r = git.Repo(root)
    r.git.commit("-qam", "conflicting drift")
    r.close()
    before, index_before = tree(root), (root / ".git/index").read_bytes()
    err = check_error(
        lambda: apply_diff(root, diff, three_way=True), 70, contains="conflicting region"
    )
    assert err.details["files"] == [
        {"path": "f.txt", "conflicts": [{"line": 2, "ours": ["line deux"], "theirs": ["LINE TWO"]}]}
    ]
    assert tree(root) == before
    assert (root / ".git/index").read_bytes() == index_before


def test_three_way_needs_git_and_honours_the_jail(
    tmp_path: Path, drifted: tuple[Path, str]
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "f.txt").write_text("x\n")
    diff = "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-x\n+y\n"
    check_error(lambda: apply_diff(plain, diff, three_way=True), 72, reason="no-git")
    root, _ = drifted
    check_error(
        lambda: apply_diff(root, "--- a/../x\n+++ b/../x\n@@ -1 +1 @@\n-x\n+y\n", three_way=True),
        71,
    )
    (root / "g.txt").write_text("dirty\n")
    check_error(lambda: apply_diff(root, diff, three_way=True), 71, reason="dirty-worktree")
    apply_diff(
        root,
        "--- a/g.txt\n+++ b/g.txt\n@@ -1 +1 @@\n-dirty\n+clean\n",
        three_way=True,
        options=ApplyOptions(allow_dirty=True),
    )
    assert (root / "g.txt").read_text() == "clean\n"


def test_three_way_in_a_subdirectory_workspace(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", {"sub/f.txt": BASE, "top.txt": "t\n"})
    r = git.Repo(root)
    (root / "sub/f.txt").write_text(BASE.replace("line 2\n", "LINE TWO\n"))
    diff = r.git.diff("--relative=sub") + "\n"  # paths relative to the workspace root sub/
    r.git.checkout("--", ".")
    (root / "sub/f.txt").write_text(BASE.replace("line 5\n", "line five\n"))
    r.git.commit("-qam", "drift")
    r.close()
    apply_diff(root / "sub", diff, three_way=True)
    assert (root / "sub/f.txt").read_text() == BASE.replace("line 5\n", "line five\n").replace(
        "line 2\n", "LINE TWO\n"
    )
