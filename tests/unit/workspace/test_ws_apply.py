"""Checked, transactional apply on real git repositories: what is kept, what is refused."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import pytest
from ws_helpers import check_error, make_repo, tree, write_files

from codeprm.workspace import (
    ApplyOptions,
    apply_change,
    apply_diff,
    apply_workspace_edit,
    plan_diff,
    read_texts,
)
from codeprm.workspace.edits import FileEdit, WorkspaceChange
from codeprm.workspace.gitguard import dirty_paths
from codeprm.workspace.transaction import JOURNAL, pending

EDIT_APP = "--- a/src/app.py\n+++ b/src/app.py\n@@ -1,2 +1,2 @@\n def main():\n-    return 1\n+    return 2\n"


def test_apply_leaves_no_journal_and_a_clean_status_apart_from_the_edit(repo: Path) -> None:
    result = apply_diff(repo, EDIT_APP)
    assert result.txid is not None and not result.recovery
    assert (repo / "src/app.py").read_text() == "def main():\n    return 2\n"
    assert pending(repo) == [] and (repo / JOURNAL).is_dir()
    assert dirty_paths(repo) == ["src/app.py"]  # .codeprm/ ignores itself


def test_empty_change_writes_nothing(repo: Path) -> None:
    before = tree(repo, include_git=True)
    assert apply_change(repo, WorkspaceChange()).txid is None
    assert tree(repo, include_git=True) == before


def test_modes_are_kept_and_renames_keep_the_source_mode(repo: Path) -> None:
    write_files(repo, {"run.sh": "#!/bin/sh\necho 1\n", "tool.py": "T = 1\n"})
    os.chmod(repo / "run.sh", 0o755)
    os.chmod(repo / "tool.py", 0o740)
    change = WorkspaceChange.between(
        {"run.sh": "#!/bin/sh\necho 1\n", "tool.py": "T = 1\n"},
        {"run.sh": "#!/bin/sh\necho 2\n", "bin/tool.py": "T = 2\n", "new.txt": "n\n"},
        {"bin/tool.py": "tool.py"},
    )
    apply_change(repo, change, options=ApplyOptions(allow_dirty=True))
    assert (repo / "run.sh").stat().st_mode & 0o7777 == 0o755
    assert (repo / "bin/tool.py").stat().st_mode & 0o7777 == 0o740
    mask = os.umask(0)
    os.umask(mask)
    assert (repo / "new.txt").stat().st_mode & 0o7777 == 0o666 & ~mask


def test_encodings_bom_and_line_endings_are_kept(tmp_path: Path) -> None:
    files = {
        "crlf.py": b"a = 1\r\nb = 2\r\n",
        "bom.py": codecs.BOM_UTF8 + "s = 'é'\n".encode(),
        "u16.txt": codecs.BOM_UTF16_BE + "🙂x\n".encode("utf-16-be"),
    }
    root = make_repo(tmp_path / "r", files)
    ws = {
        "changes": {
            (root / "crlf.py").as_uri(): [{"range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 5}}, "newText": "3"}],
            (root / "bom.py").as_uri(): [{"range": {"start": {"line": 0, "character": 5}, "end": {"line": 0, "character": 6}}, "newText": "ü"}],
            (root / "u16.txt").as_uri(): [{"range": {"start": {"line": 0, "character": 2}, "end": {"line": 0, "character": 3}}, "newText": "y"}],
        }
    }  # fmt: skip
    apply_workspace_edit(root, ws)
    assert (root / "crlf.py").read_bytes() == b"a = 1\r\nb = 3\r\n"
    assert (root / "bom.py").read_bytes() == codecs.BOM_UTF8 + "s = 'ü'\n".encode()
    assert (root / "u16.txt").read_bytes() == codecs.BOM_UTF16_BE + "🙂y\n".encode("utf-16-be")
    assert read_texts(root, ["bom.py"]) == {"bom.py": "s = 'ü'\n"}


def test_read_only_file_is_71_and_nothing_is_written(repo: Path) -> None:
    os.chmod(repo / "src/util.py", 0o444)
    before = tree(repo, include_git=True)
    change = WorkspaceChange.of(
        [
            FileEdit("src/app.py", "def main():\n    return 1\n", "x\n"),
            FileEdit("src/util.py", "X = 1\nY = 2\n", "y\n"),
        ]
    )
    check_error(lambda: apply_change(repo, change), 71, reason="read-only")
    diff = "--- a/src/util.py\n+++ b/src/util.py\n@@ -1 +1 @@\n-X = 1\n+X = 3\n"
    check_error(lambda: apply_diff(repo, EDIT_APP + diff), 71, reason="read-only")
    assert tree(repo, include_git=True) == before


def test_binary_file_is_a_clear_error_and_nothing_is_written(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", {"img.png": b"\x89PNG\r\n\x1a\n\x00\x00data", "a.txt": "a\n"})
    before = tree(root, include_git=True)
    diff = "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+b\n--- a/img.png\n+++ b/img.png\n@@ -1 +1 @@\n-x\n+y\n"
    err = check_error(
        lambda: apply_diff(root, diff), 72, reason="binary", contains="img.png is a binary file"
    )
    assert err.details["path"] == "img.png"
    ws = {"documentChanges": [{"kind": "delete", "uri": (root / "img.png").as_uri()}]}
    check_error(lambda: apply_workspace_edit(root, ws), 72, reason="binary")
    binary_patch = "diff --git a/img.png b/img.png\nindex 1..2 100644\nBinary files a/img.png and b/img.png differ\n"
    check_error(lambda: apply_diff(root, binary_patch), 72, reason="binary")
    assert tree(root, include_git=True) == before


def test_stale_change_is_74_and_nothing_is_written(repo: Path) -> None:
    other = "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# demo\n+# DEMO\n"
    change = plan_diff(repo, EDIT_APP + other)
    (repo / "src/app.py").write_text("def main():\n    return 'edited by someone'\n")
    before = tree(repo, include_git=True)
    err = check_error(
        lambda: apply_change(repo, change, options=ApplyOptions(allow_dirty=True)), 74
    )
    assert err.details["path"] == "src/app.py"
    # The same diff, applied now, cannot find its hunk: 70 with the hunk.
    err = check_error(
        lambda: apply_diff(repo, EDIT_APP, options=ApplyOptions(allow_dirty=True)), 70
    )
    assert err.details["hunk"].startswith("@@ -1,2 +1,2 @@\n def main():\n-    return 1\n")
    assert tree(repo, include_git=True) == before


def test_dirty_worktree_is_refused_unless_allowed(repo: Path) -> None:
    (repo / "docs/guide.txt").write_text("edited\n")
    (repo / "notes.txt").write_text("untracked, untouched\n")
    before = tree(repo, include_git=True)
    err = check_error(lambda: apply_diff(repo, EDIT_APP), 71, reason="dirty-worktree")
    assert err.details["dirty"] == ["docs/guide.txt"]
    assert tree(repo, include_git=True) == before
    apply_diff(repo, EDIT_APP, options=ApplyOptions(allow_dirty=True))
    assert (repo / "src/app.py").read_text().endswith("return 2\n")


def test_untracked_file_counts_as_dirty_only_when_touched(repo: Path) -> None:
    (repo / "scratch.txt").write_text("mine\n")
    apply_diff(repo, EDIT_APP)  # untouched untracked file: fine
    (repo / "src/app.py").write_text("def main():\n    return 1\n")  # back to clean
    touch = "--- a/scratch.txt\n+++ b/scratch.txt\n@@ -1 +1 @@\n-mine\n+yours\n"
    err = check_error(lambda: apply_diff(repo, touch), 71, reason="dirty-worktree")
    assert err.details["dirty"] == ["scratch.txt"]


def test_workspace_in_a_subdirectory_of_a_repo(repo: Path) -> None:
    (repo / "README.md").write_text("dirty outside the workspace root\n")
    sub = repo / "src"
    apply_diff(
        sub,
        "--- a/app.py\n+++ b/app.py\n@@ -1,2 +1,2 @@\n def main():\n-    return 1\n+    return 3\n",
    )
    assert (sub / "app.py").read_text().endswith("return 3\n")
    assert dirty_paths(sub) == ["app.py"]


def test_workspace_outside_git_has_no_dirty_check(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write_files(root, {"a.txt": "a\n"})
    apply_diff(root, "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+b\n")
    assert (root / "a.txt").read_text() == "b\n"


def test_io_error_mid_apply_rolls_everything_back(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = tree(repo, include_git=True)
    real_replace, calls = os.replace, []

    def failing_replace(
        src: str | os.PathLike[str], dst: str | os.PathLike[str], **dir_fds: int
    ) -> None:
        calls.append(dst)
        if len(calls) == 3:  # journal manifest, first file, then fail on the second file
            raise OSError(28, "No space left on device", str(dst))
        real_replace(src, dst, **dir_fds)

    monkeypatch.setattr(os, "replace", failing_replace)
    change = WorkspaceChange.of(
        [
            FileEdit("README.md", "# demo\n", "changed\n"),
            FileEdit("src/app.py", "def main():\n    return 1\n", "changed\n"),
            FileEdit("new/dir/file.txt", None, "new\n"),
        ]
    )
    check_error(lambda: apply_change(repo, change), 71, reason="io", contains="nothing was changed")
    monkeypatch.undo()
    after = {p: v for p, v in tree(repo, include_git=True).items() if not p.startswith(".codeprm")}
    assert after == before
    assert pending(repo) == []


def test_deleting_the_last_file_removes_its_directory(repo: Path) -> None:
    apply_diff(repo, "--- a/docs/guide.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-guide\n")
    assert not (repo / "docs").exists()


def test_directory_where_a_file_is_expected_is_refused(repo: Path) -> None:
    check_error(
        lambda: apply_diff(repo, "--- /dev/null\n+++ b/src\n@@ -0,0 +1 @@\n+x\n"),
        72,
        reason="not-a-file",
    )
    check_error(
        lambda: apply_diff(repo, "--- /dev/null\n+++ b/README.md/x\n@@ -0,0 +1 @@\n+x\n"),
        71,
        reason="not-a-directory",
    )
