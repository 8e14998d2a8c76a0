"""Fault injection: SIGKILL multi-file applies at every protocol step and by timer; after
recovery each transaction is entirely old or entirely new. More trials: benchmarks/crash_apply.py."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeprm.workspace import crashsim
from codeprm.workspace.transaction import CONFLICTS, FAULT_AT_ENV, pending, recover


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[Path]:
    """A temporary directory on tmpfs when there is one: SIGKILL leaves the page cache intact
    either way, so fsync's cost (the disk's, not the protocol's) only slows the trials down."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="codeprm-crash-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_killed_applies_are_all_old_or_all_new(fast_tmp: Path) -> None:
    tmp_path = fast_tmp
    steps = 51  # protocol steps of one A->B apply (checked below)
    trials = crashsim.run_parallel(
        tmp_path, workers=2, step_trials=steps + 3, timer_trials=6, seed=1234
    )
    outcomes = collections.Counter(t.outcome for t in trials)
    broken = [t for t in trials if t.outcome == "broken"]
    assert not broken, broken[:3]
    assert len(trials) >= 50
    assert (
        crashsim.count_steps(tmp_path / "ws0", crashsim.state_of(tmp_path / "ws0") or "A") == steps
    )
    assert {t.kill_at for t in trials if t.kind == "step"} >= set(
        range(1, steps + 1)
    )  # every step killed once
    assert outcomes["old"] > 0 and outcomes["new"] > 0
    assert any(t.recovery_kill_at is not None for t in trials)


def test_recovery_leaves_a_file_changed_by_someone_else_and_reports_it(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    crashsim.make_workspace(root)
    steps = crashsim.count_steps(root, "A")
    # Kill just before the commit point: every file is already new and the manifest is there.
    child = crashsim._spawn(["apply", str(root), "A", "B"], {FAULT_AT_ENV: str(steps - 2)})
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert len(pending(root)) == 1
    (root / "src/app.py").write_text("an editor saved this after the crash\n")
    report = recover(root)
    assert [c["path"] for c in report.conflicts] == ["src/app.py"]
    assert (root / "src/app.py").read_text() == "an editor saved this after the crash\n"
    assert (root / "crlf.txt").read_bytes() == b"one\r\ntwo\r\nthree\r\n"  # the rest rolled back
    assert pending(root) == [] and len(list((root / CONFLICTS).iterdir())) == 1
