"""Write several files as one transaction that a crash rolls back: journal, temp files, os.replace.

The protocol of ``commit``, for the files of one change (the caller has checked them):

1. ``<root>/.codeprm/journal/<txid>/`` gets a backup copy of every file's old bytes,
   each fsynced.
2. ``manifest.json`` (per file: old and new sha256, modes, temp name, backup name; the
   directories it will create) is written to a side file, fsynced, renamed into place,
   and the journal directory fsynced. From here on the transaction exists.
3. Missing parent directories are created; each new content goes to a temp file in its
   target's directory, chmod'ed to the file's mode and fsynced.
4. Every target is ``os.replace``'d by its temp file (or unlinked); the directories are
   fsynced; directories emptied by deletions are removed.
5. The manifest is unlinked and the journal directory fsynced: the commit point. Then the
   journal is removed.

Policy: **roll back**. ``recover(root)`` finds journals that still have a manifest (a
transaction that never reached its commit point) and puts every file back to its old
bytes and mode from the backups, removes the files and directories the transaction
created and its temp files. A journal without a manifest died before touching the
worktree (or after committing) and is removed. Recovery can itself be killed and rerun.
A file whose content is neither the old nor the new one was changed by someone else
after the crash: it is left alone, reported, and the journal is moved to
``.codeprm/journal-conflicts/`` for a person to look at.

Concurrency: entry points hold an exclusive ``flock`` on the workspace root directory
(re-entrant within a thread); the kernel drops it when a process dies, so recovery never
races a live transaction and nothing is created in the workspace just to lock it.

Fault injection, for tests only: ``CODEPRM_FAULT_AT=k`` SIGKILLs the process at the k-th
step of the protocol (counted per process, recovery included; ``steps_taken()`` tells
how many there were); ``CODEPRM_FAULT_DELAY=s`` sleeps s seconds at every step so that
a timer can kill the process mid-way.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeprm.errors import WriteDeniedError
from codeprm.workspace.jail import STATE_DIR

JOURNAL = f"{STATE_DIR}/journal"
CONFLICTS = f"{STATE_DIR}/journal-conflicts"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
FAULT_AT_ENV = "CODEPRM_FAULT_AT"
FAULT_DELAY_ENV = "CODEPRM_FAULT_DELAY"
LOCK_TIMEOUT_S = 60.0

_steps = 0


def fault_point(label: str) -> None:
    """One step of the write protocol; the test hooks act here (see the module docstring)."""
    global _steps
    _steps += 1
    at = os.environ.get(FAULT_AT_ENV)
    if at is not None and at.strip() == str(_steps):
        os.kill(os.getpid(), signal.SIGKILL)
    delay = os.environ.get(FAULT_DELAY_ENV)
    if delay:
        time.sleep(float(delay))


def steps_taken() -> int:
    """How many protocol steps this process has taken so far."""
    return _steps


@dataclass(frozen=True, slots=True)
class PlannedWrite:
    """One file of a transaction. ``target`` is the real path (inside the jail)."""

    path: str
    target: Path
    old: bytes | None
    new: bytes | None
    mode: int | None = None
    owner: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What ``recover`` did: transactions rolled back, files restored, conflicts left."""

    rolled_back: tuple[str, ...] = ()
    restored: tuple[str, ...] = ()
    discarded: tuple[str, ...] = ()
    conflicts: tuple[dict[str, Any], ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.rolled_back or self.discarded or self.conflicts)

    def to_json(self) -> dict[str, Any]:
        return {
            "rolledBack": list(self.rolled_back),
            "restored": list(self.restored),
            "discarded": list(self.discarded),
            "conflicts": list(self.conflicts),
        }


# -- locking -------------------------------------------------------------------------

_local = threading.local()


@contextlib.contextmanager
def workspace_lock(root: Path, *, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the workspace's exclusive lock (a flock on the root directory)."""
    held: dict[str, list[int]] = _local.__dict__.setdefault("held", {})
    key = str(root)
    if key in held:
        held[key][1] += 1
        try:
            yield
        finally:
            held[key][1] -= 1
        return
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as err:
                if time.monotonic() > deadline:
                    raise WriteDeniedError(
                        f"workspace {key} is locked by another codeprm process",
                        details={"reason": "locked", "root": key},
                    ) from err
                time.sleep(0.01)
        held[key] = [fd, 1]
        try:
            yield
        finally:
            del held[key]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# -- small durable-IO helpers -----------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new(
    path: Path, data: bytes, mode: int | None, owner: tuple[int, int] | None = None
) -> None:
    """Create ``path`` (it must not exist) with ``data`` and ``mode``, fsynced."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    fd = os.open(path, flags, 0o666 if mode is None else 0o600)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        if owner is not None and hasattr(os, "fchown"):
            with contextlib.suppress(PermissionError):
                os.fchown(fd, *owner)
        view = memoryview(data)
        half = len(view) // 2
        _write_all(fd, view[:half])
        fault_point("half-written")
        _write_all(fd, view[half:])
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _current_sha(path: Path) -> str | None:
    """sha256 of a regular file, None if absent; "<kind>" for anything else."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return "<not a regular file>"
    return _sha256(path.read_bytes())


def _tmp_name(name: str, txid: str, tag: str = "tmp") -> str:
    return f".{name[:80]}.{txid}.codeprm-{tag}"


def _new_txid() -> str:
    return f"{time.time_ns():016x}-{os.getpid():x}-{secrets.token_hex(3)}"


def _ensure_journal_root(root: Path) -> Path:
    state = root / STATE_DIR
    if not state.is_dir():
        state.mkdir(exist_ok=True)
        (state / ".gitignore").write_text("# codeprm's journal and probes; never commit them\n*\n")
        _fsync_dir(root)
    journal = root / JOURNAL
    if not journal.is_dir():
        journal.mkdir(exist_ok=True)
        _fsync_dir(state)
    return journal


def _missing_dirs(root: Path, writes: Sequence[PlannedWrite]) -> list[Path]:
    """Parent directories the new files need that do not exist yet, parents first."""
    missing: dict[Path, None] = {}
    for w in writes:
        if w.new is None:
            continue
        chain = []
        parent = w.target.parent
        while parent != root and not parent.exists():
            chain.append(parent)
            parent = parent.parent
        for d in reversed(chain):
            missing.setdefault(d)
    return list(missing)


# -- commit ----------------------------------------------------------------------------------


def commit(
    root: Path,
    writes: Sequence[PlannedWrite],
    *,
    guard: Callable[[PlannedWrite], None] | None = None,
) -> str:
    """Write every file of ``writes`` or none of them; returns the transaction id.

    The caller holds ``workspace_lock(root)``; ``root`` is the real workspace root and every
    target lies inside it. ``guard`` runs right before each target is replaced (the jail
    re-check). An OSError rolls everything back and becomes WriteDeniedError.
    """
    txid = _new_txid()
    journal = _ensure_journal_root(root)
    jdir = journal / txid
    created = _missing_dirs(root, writes)
    entries = []
    for i, w in enumerate(writes):
        entries.append(
            {
                "path": w.target.relative_to(root).as_posix(),
                "display": w.path,
                "old": None if w.old is None else _sha256(w.old),
                "new": None if w.new is None else _sha256(w.new),
                "old_mode": w.mode if w.old is not None else None,
                "backup": f"backup-{i}" if w.old is not None else None,
                "tmp": _tmp_name(w.target.name, txid) if w.new is not None else None,
            }
        )
    manifest = {
        "version": MANIFEST_VERSION,
        "txid": txid,
        "entries": entries,
        "created_dirs": [d.relative_to(root).as_posix() for d in created],
    }
    try:
        jdir.mkdir()
        _fsync_dir(journal)
        fault_point("journal-dir")
        for i, w in enumerate(writes):
            if w.old is not None:
                _write_new(jdir / f"backup-{i}", w.old, 0o600)
                fault_point("backup")
        side = jdir / (MANIFEST + ".part")
        _write_new(side, json.dumps(manifest, indent=1).encode(), 0o600)
        os.replace(side, jdir / MANIFEST)
        _fsync_dir(jdir)
        fault_point("manifest")
    except OSError as err:
        shutil.rmtree(jdir, ignore_errors=True)
        raise WriteDeniedError(
            f"could not write the journal: {err}", details={"reason": "journal"}
        ) from err

    try:
        _write_phase(root, writes, entries, created, guard)
    except BaseException as err:
        # On an OSError here the journal stays and the next entry point's recover() finishes.
        with contextlib.suppress(OSError):
            _finish(root, jdir, _roll_back(root, jdir, manifest))
        if isinstance(err, OSError):
            raise WriteDeniedError(
                f"could not write {getattr(err, 'filename', None) or 'a file'}: {err.strerror or err}; "
                "nothing was changed",
                details={"reason": "io", "errno": err.errno},
            ) from err
        raise

    os.unlink(jdir / MANIFEST)
    _fsync_dir(jdir)
    fault_point("commit")
    shutil.rmtree(jdir, ignore_errors=True)
    fault_point("cleanup")
    return txid


def _write_phase(
    root: Path,
    writes: Sequence[PlannedWrite],
    entries: list[dict[str, Any]],
    created: list[Path],
    guard: Callable[[PlannedWrite], None] | None,
) -> None:
    touched_dirs: dict[Path, None] = {}
    for d in created:
        d.mkdir()
        touched_dirs.setdefault(d.parent)
        fault_point("mkdir")
    for w, e in zip(writes, entries, strict=True):
        if w.new is not None:
            _write_new(w.target.parent / e["tmp"], w.new, w.mode, w.owner)
            fault_point("temp")
    for w, e in zip(writes, entries, strict=True):
        if guard is not None:
            guard(w)
        if w.new is not None:
            os.replace(w.target.parent / e["tmp"], w.target)
        else:
            os.unlink(w.target)
        touched_dirs.setdefault(w.target.parent)
        fault_point("replace")
    for d in touched_dirs:
        _fsync_dir(d)
    fault_point("fsync-dirs")
    for w in writes:
        if w.new is None:
            _remove_empty_parents(root, w.target.parent)


def _remove_empty_parents(root: Path, directory: Path) -> None:
    while directory != root and root in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        _fsync_dir(directory.parent)
        fault_point("rmdir")
        directory = directory.parent


# -- roll back and recover -------------------------------------------------------------------


def _roll_back(root: Path, jdir: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Put every file of ``manifest`` back to its old state; returns the conflicts."""
    txid = str(manifest["txid"])
    conflicts: list[dict[str, Any]] = []
    for e in reversed(manifest["entries"]):
        target = root / e["path"]
        real = Path(os.path.realpath(target.parent)) / target.name
        if root not in real.parents:
            conflicts.append(
                {"txid": txid, "path": e["display"], "reason": "now outside the workspace"}
            )
            continue
        if e["tmp"]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target.parent / e["tmp"])
                fault_point("rb-temp")
        current = _current_sha(target)
        if current == e["old"]:
            mode = e["old_mode"]
            if (
                current is not None
                and mode is not None
                and stat.S_IMODE(target.stat().st_mode) != mode
            ):
                os.chmod(target, mode)
            continue
        if current is not None and current != e["new"]:
            conflicts.append(
                {"txid": txid, "path": e["display"], "reason": "changed by someone else"}
            )
            continue
        if e["old"] is None:
            os.unlink(target)
            _fsync_dir(target.parent)
            fault_point("rb-unlink")
            continue
        data = (jdir / e["backup"]).read_bytes()
        if _sha256(data) != e["old"]:
            conflicts.append({"txid": txid, "path": e["display"], "reason": "backup is damaged"})
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        side = target.parent / _tmp_name(target.name, txid, "restore")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(side)
        _write_new(side, data, e["old_mode"])
        os.replace(side, target)
        _fsync_dir(target.parent)
        fault_point("rb-restore")
    for rel in reversed(manifest.get("created_dirs", [])):
        with contextlib.suppress(OSError):
            (root / rel).rmdir()
    return conflicts


def _finish(root: Path, jdir: Path, conflicts: list[dict[str, Any]]) -> None:
    """Retire a rolled-back journal: removed when clean, set aside when it has conflicts."""
    if conflicts:
        aside = root / CONFLICTS
        aside.mkdir(parents=True, exist_ok=True)
        os.replace(jdir, aside / jdir.name)
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(jdir / MANIFEST)
    _fsync_dir(jdir)
    shutil.rmtree(jdir, ignore_errors=True)


def recover_locked(root: Path) -> RecoveryReport:
    """``recover`` for a caller that already holds the workspace lock."""
    journal = root / JOURNAL
    if not journal.is_dir():
        return RecoveryReport()
    rolled, restored, discarded, conflicts = [], [], [], []
    for name in sorted(os.listdir(journal), reverse=True):
        jdir = journal / name
        if not jdir.is_dir():
            jdir.unlink()
            continue
        mpath = jdir / MANIFEST
        if not mpath.exists():
            shutil.rmtree(jdir, ignore_errors=True)
            discarded.append(name)
            continue
        try:
            manifest = json.loads(mpath.read_text())
        except (OSError, ValueError):
            bad = [{"txid": name, "path": None, "reason": "unreadable manifest"}]
            _finish(root, jdir, bad)
            conflicts.extend(bad)
            continue
        found = _roll_back(root, jdir, manifest)
        _finish(root, jdir, found)
        rolled.append(name)
        conflicted = {c["path"] for c in found}
        restored.extend(e["display"] for e in manifest["entries"] if e["display"] not in conflicted)
        conflicts.extend(found)
    return RecoveryReport(tuple(rolled), tuple(restored), tuple(discarded), tuple(conflicts))


def recover(root: str | os.PathLike[str]) -> RecoveryReport:
    """Roll back whatever a crashed transaction left in ``root`` (see the module docstring)."""
    real = Path(os.path.realpath(os.fspath(root)))
    with workspace_lock(real):
        return recover_locked(real)


def pending(root: str | os.PathLike[str]) -> list[str]:
    """Transaction ids whose journal is still there (crashed or in progress)."""
    journal = Path(os.path.realpath(os.fspath(root))) / JOURNAL
    return sorted(os.listdir(journal)) if journal.is_dir() else []
