"""A hostile repository's own ``.codeprm/`` (issue #17): nothing outside the workspace is touched.

Each scenario puts an outside directory next to the workspace and ends by checking that it
still holds exactly what it held (``tree`` fingerprints bytes, modes, symlinks, dirs).
"""

from __future__ import annotations

import json
import os
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import git
import pytest
from ws_helpers import check_error, make_repo, tree

from codeprm.workspace import ApplyOptions, apply_change, apply_diff, crashsim, plan_diff, recover
from codeprm.workspace.edits import FileEdit, WorkspaceChange
from codeprm.workspace.private import KEY_FILE, STATE_HOME_ENV, journal_key, key_dir, sign
from codeprm.workspace.transaction import (
    CONFLICTS,
    FAULT_AT_ENV,
    JOURNAL,
    MANIFEST,
    _canonical,
    _new_txid,
    _tmp_name,
    pending,
    set_fault_hook,
)
from tests.conftest import assert_clean_error, run_cli

FIX = "--- a/src/app.py\n+++ b/src/app.py\n@@ -1,2 +1,2 @@\n def main():\n-    return 1\n+    return 2\n"
FILES = {"src/app.py": "def main():\n    return 1\n", "README.md": "# demo\n"}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Someone's files next to the workspace: a file, an empty dir, a victim by a relative name."""
    path = tmp_path / "outside"
    (path / "emptydir").mkdir(parents=True)
    (path / "keep.txt").write_text("do not touch\n")
    (tmp_path / "victim.txt").write_text("victim\n")
    return path


@pytest.fixture
def untouched(tmp_path: Path, outside: Path) -> Iterator[None]:
    """Fails the test if anything next to the workspace (outside/, victim.txt) changed."""
    before = tree(outside), (tmp_path / "victim.txt").read_bytes()
    yield
    assert (tree(outside), (tmp_path / "victim.txt").read_bytes()) == before


def _clone(tmp_path: Path, ship: dict[str, str]) -> Path:
    """A repository that ships ``.codeprm`` entries (symlinks), cloned as a user would."""
    upstream = make_repo(tmp_path / "upstream", FILES, commit=False)
    for rel, target in ship.items():
        (upstream / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, upstream / rel)
    repo = git.Repo(upstream)
    repo.git.add("-A", "-f")
    repo.git.commit("-qm", "hostile")
    repo.close()
    git.Repo.clone_from(upstream, tmp_path / "clone").close()
    return tmp_path / "clone"


def _diff(tmp_path: Path) -> Path:
    path = tmp_path / "fix.diff"
    path.write_text(FIX)
    return path


@pytest.mark.e2e
def test_cloned_symlinked_journal_step_preview_and_apply(
    tmp_path: Path, outside: Path, untouched: None
) -> None:
    clone = _clone(tmp_path, {".codeprm/journal": "../../outside"})
    assert (clone / JOURNAL).is_symlink()
    fix = _diff(tmp_path)
    step = run_cli("step", str(fix), "-w", str(clone), "--json")
    assert step.code == 0, step.err
    assert run_cli("apply", str(fix), "-w", str(clone)).code == 0
    applied = run_cli("apply", str(fix), "-w", str(clone), "--apply")
    assert_clean_error(applied, 71, "is a symbolic link")
    assert (clone / "src/app.py").read_text() == FILES["src/app.py"]


@pytest.mark.e2e
def test_symlinked_state_dir_is_refused_for_writes(
    tmp_path: Path, outside: Path, untouched: None
) -> None:
    clone = _clone(tmp_path, {".codeprm": "../outside"})
    fix = _diff(tmp_path)
    assert run_cli("apply", str(fix), "-w", str(clone)).code == 0  # a preview skips it
    assert_clean_error(run_cli("apply", str(fix), "-w", str(clone), "--apply"), 71, ".codeprm")
    assert (clone / "src/app.py").read_text() == FILES["src/app.py"]


def test_symlinked_state_dir_library(tmp_path: Path, outside: Path, untouched: None) -> None:
    clone = _clone(tmp_path, {".codeprm": "../outside"})
    assert plan_diff(clone, FIX)  # scoring and previews still work, and skip the link
    check_error(lambda: apply_diff(clone, FIX), 71, reason="untrusted-state")
    check_error(lambda: recover(clone), 71, reason="untrusted-state")
    assert pending(clone) == []


def _crafted(root: Path, txid: str, manifest: dict[str, object]) -> Path:
    jdir = root / JOURNAL / txid
    jdir.mkdir(parents=True)
    (jdir / MANIFEST).write_text(json.dumps(manifest))
    return jdir


def _hostile_manifest(txid: str, version: int = 1) -> dict[str, object]:
    return {
        "version": version,
        "txid": txid,
        "entries": [
            {
                "path": "src/app.py",
                "display": "src/app.py",
                "old": "0" * 64,
                "new": None,
                "old_mode": 0o644,
                "backup": None,
                "tmp": "../../victim.txt",
            },
            {
                "path": "README.md",
                "display": "README.md",
                "old": None,
                "new": None,
                "old_mode": None,
                "backup": None,
                "tmp": "../victim.txt",
            },
        ],
        "created_dirs": ["../outside/emptydir"],
    }


@pytest.mark.e2e
def test_crafted_manifest_is_ignored_by_the_cli(
    tmp_path: Path, outside: Path, untouched: None
) -> None:
    root = make_repo(tmp_path / "ws", FILES)
    jdir = _crafted(
        root, "0000000000000001-1-abcdef", _hostile_manifest("0000000000000001-1-abcdef")
    )
    fix = _diff(tmp_path)
    assert run_cli("apply", str(fix), "-w", str(root)).code == 0
    assert run_cli("apply", str(fix), "-w", str(root), "--apply").code == 0
    assert (root / "src/app.py").read_text() == "def main():\n    return 2\n"
    assert (jdir / MANIFEST).exists()  # left for a person to look at, never acted on


def test_crafted_manifest_is_ignored_and_reported(
    tmp_path: Path, outside: Path, untouched: None
) -> None:
    root = make_repo(tmp_path / "ws", FILES)
    key = journal_key(create=True)
    assert key is not None
    signed_name = _new_txid(key)  # even under a valid txid, an unsigned manifest is not ours
    _crafted(root, "0000000000000001-1-abcdef", _hostile_manifest("0000000000000001-1-abcdef"))
    _crafted(root, signed_name, {**_hostile_manifest(signed_name, 2), "hmac": "0" * 64})
    plan_diff(root, FIX)
    report = recover(root)
    assert not report and not report.rolled_back
    reasons = {i["txid"]: i["reason"] for i in report.ignored}
    assert "not a transaction" in reasons["0000000000000001-1-abcdef"]
    assert "not signed" in reasons[signed_name]
    assert report.to_json()["ignored"] == list(report.ignored)
    assert (root / "README.md").read_text() == "# demo\n"


def test_signed_manifest_with_unconfined_paths_is_still_ignored(
    tmp_path: Path, outside: Path, untouched: None
) -> None:
    root = make_repo(tmp_path / "ws", FILES)
    key = journal_key(create=True)
    assert key is not None
    for bad in ("tmp", "created_dirs", "path"):
        txid = _new_txid(key)
        manifest = _hostile_manifest(txid, 2)
        entries = manifest["entries"]
        assert isinstance(entries, list)
        if bad != "tmp":
            for e in entries:
                e["tmp"] = None
        if bad == "path":
            manifest["created_dirs"] = []
            entries[1]["path"] = "../victim.txt"
        if bad == "tmp":
            manifest["created_dirs"] = []
        manifest["hmac"] = sign(key, "manifest", _canonical(manifest))
        _crafted(root, txid, manifest)
        report = recover(root)
        assert [i["txid"] for i in report.ignored if i["txid"] == txid] == [txid], report
        assert not report.rolled_back


def _swap_for_link(root: Path, rel: str, target: Path) -> None:
    os.rename(root / rel, root / f"{rel}.moved")
    os.symlink(target, root / rel)


@pytest.mark.parametrize("label", ["manifest", "temp"])
def test_directory_swapped_for_a_symlink_mid_apply_writes_nothing_outside(
    tmp_path: Path, outside: Path, untouched: None, label: str
) -> None:
    root = make_repo(tmp_path / "ws", FILES)
    fired = []

    def swap(at: str) -> None:
        if at == label and not fired:
            fired.append(at)
            _swap_for_link(root, "src", outside)

    change = WorkspaceChange.of([FileEdit("src/app.py", FILES["src/app.py"], "changed\n")])
    set_fault_hook(swap)
    try:
        check_error(lambda: apply_change(root, change), 71)
    finally:
        set_fault_hook(None)
    assert fired == [label]
    assert (root / "src.moved/app.py").read_text() == FILES["src/app.py"]
    assert not any(".codeprm-" in p for p in tree(outside))


def test_journal_swapped_for_a_symlink_mid_apply_writes_nothing_outside(
    tmp_path: Path, outside: Path, untouched: None
) -> None:
    root = make_repo(tmp_path / "ws", FILES)
    apply_diff(root, FIX)  # the journal directory exists
    fired = []

    def swap(at: str) -> None:
        if at == "journal-dir" and not fired:
            fired.append(at)
            _swap_for_link(root, JOURNAL, outside)

    set_fault_hook(swap)
    try:
        apply_diff(
            root,
            "--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-# demo\n+# swapped\n",
            options=ApplyOptions(allow_dirty=True),
        )
    finally:
        set_fault_hook(None)
    assert fired and (root / "README.md").read_text() == "# swapped\n"
    assert os.listdir(root / f"{JOURNAL}.moved") == []  # the journal it opened, cleaned up


def test_own_crashed_journal_is_still_recovered_by_a_preview(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    crashsim.make_workspace(root)
    steps = crashsim.count_steps(root, "A")
    child = crashsim._spawn(["apply", str(root), "A", "B"], {FAULT_AT_ENV: str(steps - 2)})
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL and len(pending(root)) == 1
    assert crashsim.state_of(root) == "B"  # every file new, but killed before the commit point
    plan_diff(root, "--- a/crlf.txt\n+++ b/crlf.txt\n@@ -1 +1 @@\n-one\r\n+ONE\r\n")
    assert crashsim.state_of(root) == "A" and pending(root) == []


def test_own_journal_tampered_after_a_crash_is_ignored(tmp_path: Path, untouched: None) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    crashsim.make_workspace(root)
    steps = crashsim.count_steps(root, "A")
    child = crashsim._spawn(["apply", str(root), "A", "B"], {FAULT_AT_ENV: str(steps - 2)})
    child.communicate(timeout=60)
    (txid,) = pending(root)
    mpath = root / JOURNAL / txid / MANIFEST
    manifest = json.loads(mpath.read_text())
    manifest["entries"][0]["tmp"] = "../../victim.txt"
    mpath.write_text(json.dumps(manifest))
    report = recover(root)
    assert [i["txid"] for i in report.ignored] == [txid] and not report.rolled_back
    assert not (root / CONFLICTS).exists()


def test_journal_key_is_private_and_outside_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_HOME_ENV, str(tmp_path / "state" / "codeprm"))
    assert journal_key(create=False) is None
    key = journal_key(create=True)
    path = key_dir() / KEY_FILE
    assert key is not None and len(key) == 32 and path.read_bytes() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir().stat().st_mode) == 0o700
    monkeypatch.setenv(STATE_HOME_ENV, str(tmp_path / "loose"))
    (tmp_path / "loose").mkdir(mode=0o700)
    (tmp_path / "loose" / KEY_FILE).write_bytes(b"k" * 32)
    os.chmod(tmp_path / "loose" / KEY_FILE, 0o644)
    root = make_repo(tmp_path / "ws", FILES)
    check_error(lambda: apply_diff(root, FIX), 71, reason="journal-key")
    assert (root / "src/app.py").read_text() == FILES["src/app.py"]


def test_tmp_names_are_derived_from_the_txid() -> None:
    assert _tmp_name("app.py", "t") == ".app.py.t.codeprm-tmp"
