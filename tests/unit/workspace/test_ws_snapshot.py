"""Snapshots notice external changes: an editor's save, git checkout, creates and deletes."""

from __future__ import annotations

import os
from pathlib import Path

import git

from codeprm.workspace import ApplyOptions, apply_diff, changed_since, snapshot
from codeprm.workspace.snapshot import RACY_WINDOW_NS, Snapshot


def test_unchanged_tree_reports_nothing(repo: Path) -> None:
    snap = snapshot(repo)
    assert set(snap.files) == {"README.md", "src/app.py", "src/util.py", "docs/guide.txt"}
    assert changed_since(snap) == []
    assert changed_since(snap, verify=True) == []


def test_editor_save_create_and_delete_are_seen(repo: Path) -> None:
    snap = snapshot(repo)
    (repo / "src/app.py").write_text("def main():\n    return 42\n")
    (repo / "docs/guide.txt").unlink()
    (repo / "new.txt").write_text("new\n")
    assert changed_since(snap) == ["docs/guide.txt", "new.txt", "src/app.py"]


def test_same_size_same_mtime_edit_is_still_seen(repo: Path) -> None:
    snap = snapshot(repo, ["src/util.py"])
    st = (repo / "src/util.py").stat()
    (repo / "src/util.py").write_text("X = 9\nY = 2\n")  # same size
    os.utime(repo / "src/util.py", ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime
    assert changed_since(snap) == ["src/util.py"]  # racy window: recent mtimes are rehashed


def test_old_stat_is_trusted_but_touch_without_change_is_not_reported(repo: Path) -> None:
    old = 1_000_000_000 * 1_000_000_000
    os.utime(repo / "README.md", ns=(old, old))
    snap = snapshot(repo, ["README.md"])
    assert snap.files["README.md"].mtime_ns < snap.taken_ns - RACY_WINDOW_NS
    os.utime(repo / "README.md")  # touched, content unchanged
    assert changed_since(snap) == []


def test_git_checkout_is_seen_and_codeprm_state_is_not(repo: Path) -> None:
    r = git.Repo(repo)
    (repo / "src/app.py").write_text("def main():\n    return 2\n")
    r.git.commit("-qam", "two")
    snap = snapshot(repo)
    r.git.checkout("-q", "HEAD~1")
    r.close()
    assert changed_since(snap) == ["src/app.py"]
    after = snapshot(repo)
    apply_diff(
        repo,
        "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# demo\n+# x\n",
        options=ApplyOptions(allow_dirty=True),
    )
    assert changed_since(after) == ["README.md"]  # .codeprm/ is never reported


def test_snapshot_json_round_trip(repo: Path) -> None:
    snap = snapshot(repo, ["README.md", "missing.txt"])
    again = Snapshot.from_json(snap.to_json())
    assert again == snap
    (repo / "missing.txt").write_text("now here\n")
    assert changed_since(again) == ["missing.txt"]
