"""The journal and the lock, seen directly (the crash trials are in test_ws_crash.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ws_helpers import check_error, tree

from codeprm.workspace import apply_diff, recover
from codeprm.workspace.private import journal_key
from codeprm.workspace.transaction import JOURNAL, _new_txid, pending, workspace_lock


def test_journal_without_manifest_is_discarded_and_the_tree_untouched(repo: Path) -> None:
    txid = _new_txid(journal_key(create=True) or b"")  # a transaction codeprm began, then died
    jdir = repo / JOURNAL / txid
    jdir.mkdir(parents=True)
    (jdir / "backup-0").write_bytes(b"half a backup")
    (jdir / "manifest.json.part").write_text("{")
    before = {p: v for p, v in tree(repo).items() if not p.startswith(".codeprm")}
    report = recover(repo)
    assert report.discarded == (txid,) and not report.rolled_back
    assert pending(repo) == []
    assert {p: v for p, v in tree(repo).items() if not p.startswith(".codeprm")} == before


def test_recover_on_a_fresh_workspace_creates_nothing(repo: Path) -> None:
    before = tree(repo, include_git=True)
    assert not recover(repo)
    assert tree(repo, include_git=True) == before


def test_lock_is_reentrant_and_excludes_other_processes(repo: Path) -> None:
    with workspace_lock(repo), workspace_lock(repo):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from codeprm.workspace.transaction import workspace_lock\n"
         "with workspace_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(30)", str(repo.resolve())],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"

        def locked() -> None:
            with workspace_lock(repo.resolve(), timeout=0.2):
                pass

        check_error(locked, 71, reason="locked")
    finally:
        holder.kill()
        holder.wait()
    apply_diff(
        repo, "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# demo\n+# free\n"
    )  # lock died with it
