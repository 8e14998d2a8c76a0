"""Write several files as one transaction that a crash rolls back: journal, temp files, os.replace.

The protocol of ``commit``, for the files of one change (the caller has checked them):

1. ``<root>/.codeprm/journal/<txid>/`` gets a backup copy of every file's old bytes,
   each fsynced.
2. ``manifest.json`` (per file: old and new sha256, modes, temp name, backup name; the
   directories it will create; an HMAC-SHA256 under the per-user journal key) is
   written to a side file, fsynced, renamed into place, and the journal directory
   fsynced. From here on the transaction exists.
3. Missing parent directories are created; each new content goes to a temp file in its
   target's directory, chmod'ed to the file's mode and fsynced.
4. Every target is ``os.replace``'d by its temp file (or unlinked); the directories are
   fsynced; directories emptied by deletions are removed.
5. The manifest is unlinked and the journal directory fsynced: the commit point. Then the
   journal is removed.

Untrusted workspaces: ``.codeprm/`` may have come with a cloned repository. Every
directory is opened from a handle on the workspace root one component at a time with
``O_NOFOLLOW | O_DIRECTORY`` (``private.walk_dirs``), and backups, temp files, renames
and unlinks are relative to those handles, so a directory swapped for a symlink cannot
redirect them; right before a target is replaced its directory is walked again and
must be the same inode, or the apply is refused (71) and rolled back. A symlinked
``.codeprm`` or ``journal`` refuses every write (71). A txid ends in a MAC of its own
name and a manifest carries a MAC of its content (``private.journal_key``, kept outside
the workspace); recovery acts only on journals whose MACs verify and whose every path
is confined to the workspace (not ``.git`` or ``.codeprm``), with temp and backup names
derived from the txid and created directories that are parents of recorded paths.
Anything else is left untouched and reported in ``RecoveryReport.ignored``. Preview and
scoring entry points (``writing=False``) do not even refuse: they skip what they cannot
trust.

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
a timer can kill the process mid-way; ``set_fault_hook(fn)`` calls ``fn(label)`` at every
step in this process (to stage a race deterministically).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import hmac
import json
import logging
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
from codeprm.workspace.private import (
    UntrustedStateError,
    journal_key,
    open_dir_at,
    open_root,
    open_state_dir,
    same_dir,
    sign,
    verify,
    walk_dirs,
)

JOURNAL = f"{STATE_DIR}/journal"
CONFLICTS = f"{STATE_DIR}/journal-conflicts"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 2
MANIFEST_MAX_BYTES = 64 << 20
FAULT_AT_ENV = "CODEPRM_FAULT_AT"
FAULT_DELAY_ENV = "CODEPRM_FAULT_DELAY"
LOCK_TIMEOUT_S = 60.0

log = logging.getLogger("codeprm.workspace")
_warned: set[tuple[str, str]] = set()
_steps = 0
_hook: Callable[[str], None] | None = None


def set_fault_hook(hook: Callable[[str], None] | None) -> None:
    """Call ``hook(label)`` at every protocol step of this process (tests only; None clears it)."""
    global _hook
    _hook = hook


def fault_point(label: str) -> None:
    """One step of the write protocol; the test hooks act here (see the module docstring)."""
    global _steps
    _steps += 1
    if _hook is not None:
        _hook(label)
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
    """What ``recover`` did: transactions rolled back, files restored, conflicts left.

    ``ignored`` lists what it found but did not trust and did not touch (a journal
    codeprm did not write, a symlinked ``.codeprm``); it does not make the report true.
    """

    rolled_back: tuple[str, ...] = ()
    restored: tuple[str, ...] = ()
    discarded: tuple[str, ...] = ()
    conflicts: tuple[dict[str, Any], ...] = field(default=())
    ignored: tuple[dict[str, Any], ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.rolled_back or self.discarded or self.conflicts)

    def to_json(self) -> dict[str, Any]:
        return {
            "rolledBack": list(self.rolled_back),
            "restored": list(self.restored),
            "discarded": list(self.discarded),
            "conflicts": list(self.conflicts),
            "ignored": list(self.ignored),
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


# -- small durable-IO helpers, all relative to verified directory handles ----------------------

_RD = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NOT_REGULAR = "<not a regular file>"


def _write_new(
    dir_fd: int, name: str, data: bytes, mode: int | None, owner: tuple[int, int] | None = None
) -> None:
    """Create ``name`` in ``dir_fd`` (it must not exist) with ``data`` and ``mode``, fsynced."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o666 if mode is None else 0o600, dir_fd=dir_fd)
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


def _read_at(dir_fd: int, name: str, limit: int | None = None) -> tuple[bytes, int] | None:
    """The bytes and permission bits of the regular file ``name``; None when absent.

    A symlink or any other non-regular file raises ``ValueError`` (it is never opened for
    reading through a link, and a FIFO does not block).
    """
    try:
        fd = os.open(name, _RD, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise ValueError(_NOT_REGULAR) from err
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(_NOT_REGULAR)
        if limit is not None and st.st_size > limit:
            raise ValueError("too large")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks), stat.S_IMODE(st.st_mode)
    finally:
        os.close(fd)


def _current_at(dir_fd: int, name: str) -> tuple[str | None, int | None]:
    """sha256 and mode of a regular file, (None, None) if absent; "<kind>" for anything else."""
    try:
        found = _read_at(dir_fd, name)
    except ValueError:
        return _NOT_REGULAR, None
    return (None, None) if found is None else (_sha256(found[0]), found[1])


def _chmod_at(dir_fd: int, name: str, mode: int) -> None:
    fd = os.open(name, _RD, dir_fd=dir_fd)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tmp_name(name: str, txid: str, tag: str = "tmp") -> str:
    return f".{name[:80]}.{txid}.codeprm-{tag}"


def _new_txid(key: bytes) -> str:
    base = f"{time.time_ns():016x}-{os.getpid():x}-{secrets.token_hex(3)}"
    return f"{base}-{sign(key, 'txid', base.encode())[:16]}"


def _txid_ok(key: bytes, name: str) -> bool:
    """Whether ``name`` is a transaction id made with ``key`` (its last part is its MAC)."""
    base, _, tag = name.rpartition("-")
    return bool(base) and hmac.compare_digest(
        sign(key, "txid", base.encode())[:16].encode("utf-8", "surrogatepass"),
        tag.encode("utf-8", "surrogatepass"),
    )


def _canonical(manifest: dict[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "hmac"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _parts(rel: str) -> list[str]:
    return rel.split("/")


def _missing_dirs(root: Path, writes: Sequence[PlannedWrite]) -> list[Path]:
    """Parent directories the new files need that do not exist yet, parents first."""
    missing: dict[Path, None] = {}
    for w in writes:
        if w.new is None:
            continue
        chain = []
        parent = w.target.parent
        while parent != root and not os.path.lexists(parent):
            chain.append(parent)
            parent = parent.parent
        for d in reversed(chain):
            missing.setdefault(d)
    return list(missing)


class _Dirs:
    """Directory handles of one transaction, walked from the root handle without symlinks."""

    def __init__(self, root_fd: int) -> None:
        self.root_fd = root_fd
        self.fds: dict[tuple[str, ...], int] = {}

    def get(self, parts: Sequence[str], *, create: bool = False) -> int:
        key = tuple(parts)
        fd = self.fds.get(key)
        if fd is None:
            opened = walk_dirs(self.root_fd, key, create=create)
            if opened is None:
                raise FileNotFoundError(errno.ENOENT, "no such directory", "/".join(key))
            fd = self.fds[key] = opened
        return fd

    def check_unmoved(self, parts: Sequence[str], display: str) -> None:
        """The directory at ``parts`` is still the one we hold (not swapped since it was opened)."""
        try:
            again = walk_dirs(self.root_fd, parts)
        except UntrustedStateError:
            again = None
        try:
            if again is None or not same_dir(again, self.get(parts)):
                raise WriteDeniedError(
                    f"{display}: its directory was replaced during the apply; nothing was changed",
                    details={"path": display, "reason": "moved"},
                )
        finally:
            if again is not None:
                os.close(again)

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


@dataclass(slots=True)
class _Journal:
    """Open handles on ``.codeprm`` and ``.codeprm/journal`` of one workspace."""

    root: Path
    root_fd: int
    state_fd: int
    journal_fd: int

    def close(self) -> None:
        for fd in (self.journal_fd, self.state_fd, self.root_fd):
            os.close(fd)


def _open_journal(root: Path, *, create: bool) -> _Journal | None:
    """The journal's handles (None when absent and not ``create``); symlinks are refused."""
    root_fd = open_root(root)
    state_fd = journal_fd = None
    try:
        state_fd = open_state_dir(root_fd, root, create=create)
        if state_fd is None:
            return None
        journal_fd = open_dir_at(
            state_fd, "journal", create=create, mode=0o700, where=str(root / JOURNAL)
        )
        if journal_fd is None:
            return None
        if create:
            os.fsync(state_fd)
        out = _Journal(root, root_fd, state_fd, journal_fd)
        root_fd = state_fd = journal_fd = None
        return out
    finally:
        for fd in (journal_fd, state_fd, root_fd):
            if fd is not None:
                os.close(fd)


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
    re-check). An OSError rolls everything back and becomes WriteDeniedError; a symlinked
    ``.codeprm`` or journal is refused before anything is written.
    """
    key = journal_key(create=True)
    assert key is not None
    txid = _new_txid(key)
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
    manifest: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "txid": txid,
        "entries": entries,
        "created_dirs": [d.relative_to(root).as_posix() for d in created],
    }
    manifest["hmac"] = sign(key, "manifest", _canonical(manifest))
    try:
        journal = _open_journal(root, create=True)
    except OSError as err:
        raise WriteDeniedError(
            f"could not open the journal: {err}", details={"reason": "journal"}
        ) from err
    assert journal is not None
    jfd = None
    try:
        try:
            os.mkdir(txid, 0o700, dir_fd=journal.journal_fd)
            jfd = open_dir_at(journal.journal_fd, txid)
            assert jfd is not None
            os.fsync(journal.journal_fd)
            fault_point("journal-dir")
            for i, w in enumerate(writes):
                if w.old is not None:
                    _write_new(jfd, f"backup-{i}", w.old, 0o600)
                    fault_point("backup")
            side = MANIFEST + ".part"
            _write_new(jfd, side, json.dumps(manifest, indent=1).encode(), 0o600)
            os.replace(side, MANIFEST, src_dir_fd=jfd, dst_dir_fd=jfd)
            os.fsync(jfd)
            fault_point("manifest")
        except OSError as err:
            shutil.rmtree(txid, ignore_errors=True, dir_fd=journal.journal_fd)
            raise WriteDeniedError(
                f"could not write the journal: {err}", details={"reason": "journal"}
            ) from err

        dirs = _Dirs(journal.root_fd)
        try:
            _write_phase(dirs, writes, entries, manifest["created_dirs"], guard)
        except BaseException as err:
            # On an OSError here the journal stays and the next entry point's recover() finishes.
            with contextlib.suppress(OSError, WriteDeniedError):
                _finish(journal, txid, jfd, _roll_back(journal.root_fd, jfd, manifest))
            if isinstance(err, OSError):
                raise WriteDeniedError(
                    f"could not write {getattr(err, 'filename', None) or 'a file'}: "
                    f"{err.strerror or err}; "
                    "nothing was changed",
                    details={"reason": "io", "errno": err.errno},
                ) from err
            raise
        finally:
            dirs.close()

        os.unlink(MANIFEST, dir_fd=jfd)
        os.fsync(jfd)
        fault_point("commit")
        shutil.rmtree(txid, ignore_errors=True, dir_fd=journal.journal_fd)
        fault_point("cleanup")
        return txid
    finally:
        if jfd is not None:
            os.close(jfd)
        journal.close()


def _write_phase(
    dirs: _Dirs,
    writes: Sequence[PlannedWrite],
    entries: list[dict[str, Any]],
    created: list[str],
    guard: Callable[[PlannedWrite], None] | None,
) -> None:
    touched_dirs: dict[tuple[str, ...], None] = {}
    for rel in created:
        parts = _parts(rel)
        os.mkdir(parts[-1], dir_fd=dirs.get(parts[:-1]))
        touched_dirs.setdefault(tuple(parts[:-1]))
        fault_point("mkdir")
    for w, e in zip(writes, entries, strict=True):
        if w.new is not None:
            _write_new(dirs.get(_parts(e["path"])[:-1]), e["tmp"], w.new, w.mode, w.owner)
            fault_point("temp")
    for w, e in zip(writes, entries, strict=True):
        if guard is not None:
            guard(w)
        parts = _parts(e["path"])
        parent = dirs.get(parts[:-1])
        dirs.check_unmoved(parts[:-1], w.path)
        if w.new is not None:
            os.replace(e["tmp"], parts[-1], src_dir_fd=parent, dst_dir_fd=parent)
        else:
            os.unlink(parts[-1], dir_fd=parent)
        touched_dirs.setdefault(tuple(parts[:-1]))
        fault_point("replace")
    for d in touched_dirs:
        os.fsync(dirs.get(d))
    fault_point("fsync-dirs")
    for w, e in zip(writes, entries, strict=True):
        if w.new is None:
            _remove_empty_parents(dirs.root_fd, _parts(e["path"])[:-1])


def _remove_empty_parents(root_fd: int, parts: list[str]) -> None:
    while parts:
        try:
            parent = walk_dirs(root_fd, parts[:-1])
        except (OSError, UntrustedStateError):
            return
        if parent is None:
            return
        try:
            try:
                os.rmdir(parts[-1], dir_fd=parent)
            except OSError:
                return
            os.fsync(parent)
        finally:
            os.close(parent)
        fault_point("rmdir")
        parts = parts[:-1]


# -- roll back and recover -------------------------------------------------------------------


def _roll_back(root_fd: int, jfd: int, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Put every file of ``manifest`` (validated) back to its old state; returns the conflicts."""
    txid = str(manifest["txid"])
    conflicts: list[dict[str, Any]] = []
    dirs = _Dirs(root_fd)
    try:
        for e in reversed(manifest["entries"]):
            parts = _parts(e["path"])
            name = parts[-1]
            try:
                parent = dirs.get(parts[:-1])
            except UntrustedStateError:
                conflicts.append(
                    {"txid": txid, "path": e["display"], "reason": "now outside the workspace"}
                )
                continue
            except FileNotFoundError:
                if e["old"] is None:
                    continue  # neither the file nor its directory: already the old state
                parent = dirs.get(parts[:-1], create=True)
            if e["tmp"]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(e["tmp"], dir_fd=parent)
                    fault_point("rb-temp")
            current, mode_now = _current_at(parent, name)
            if current == e["old"]:
                mode = e["old_mode"]
                if current is not None and mode is not None and mode_now != mode:
                    _chmod_at(parent, name, mode)
                continue
            if current is not None and current != e["new"]:
                conflicts.append(
                    {"txid": txid, "path": e["display"], "reason": "changed by someone else"}
                )
                continue
            if e["old"] is None:
                os.unlink(name, dir_fd=parent)
                os.fsync(parent)
                fault_point("rb-unlink")
                continue
            try:
                backup = _read_at(jfd, e["backup"])
            except ValueError:
                backup = None
            if backup is None or _sha256(backup[0]) != e["old"]:
                conflicts.append(
                    {"txid": txid, "path": e["display"], "reason": "backup is damaged"}
                )
                continue
            side = _tmp_name(name, txid, "restore")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(side, dir_fd=parent)
            _write_new(parent, side, backup[0], e["old_mode"])
            os.replace(side, name, src_dir_fd=parent, dst_dir_fd=parent)
            os.fsync(parent)
            fault_point("rb-restore")
    finally:
        dirs.close()
    for rel in reversed(manifest.get("created_dirs", [])):
        parts = _parts(rel)
        with contextlib.suppress(OSError, UntrustedStateError):
            parent = walk_dirs(root_fd, parts[:-1])
            if parent is not None:
                try:
                    os.rmdir(parts[-1], dir_fd=parent)
                finally:
                    os.close(parent)
    return conflicts


def _finish(journal: _Journal, name: str, jfd: int, conflicts: list[dict[str, Any]]) -> None:
    """Retire a rolled-back journal: removed when clean, set aside when it has conflicts."""
    if conflicts:
        aside = open_dir_at(
            journal.state_fd,
            "journal-conflicts",
            create=True,
            mode=0o700,
            where=str(journal.root / CONFLICTS),
        )
        assert aside is not None
        try:
            os.rename(name, name, src_dir_fd=journal.journal_fd, dst_dir_fd=aside)
        finally:
            os.close(aside)
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(MANIFEST, dir_fd=jfd)
    os.fsync(jfd)
    shutil.rmtree(name, ignore_errors=True, dir_fd=journal.journal_fd)


_ENTRY_KEYS = frozenset({"path", "display", "old", "new", "old_mode", "backup", "tmp"})


def _confined(rel: object) -> bool:
    """A workspace-relative POSIX path that cannot leave the workspace or name git's or our
    state."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        return False
    parts = rel.split("/")
    if any(p in ("", ".", "..", ".git") for p in parts):
        return False
    return parts[0] != STATE_DIR


def _is_sha(value: object) -> bool:
    return value is None or (
        isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    )


def manifest_problem(manifest: object, txid: str) -> str | None:
    """Why ``manifest`` (decoded, MAC already checked) must not be acted on; None when it is
    sound."""
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        return "unknown manifest version"
    if manifest.get("txid") != txid:
        return "manifest names another transaction"
    entries, created = manifest.get("entries"), manifest.get("created_dirs")
    if not isinstance(entries, list) or not isinstance(created, list):
        return "malformed manifest"
    paths: set[str] = set()
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or set(e) != _ENTRY_KEYS:
            return "malformed manifest entry"
        path = e["path"]
        if not _confined(path) or path in paths:
            return f"path {path!r} is not confined to the workspace"
        paths.add(path)
        if not isinstance(e["display"], str) or not _is_sha(e["old"]) or not _is_sha(e["new"]):
            return "malformed manifest entry"
        mode = e["old_mode"]
        if mode is not None and (
            not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o7777
        ):
            return "malformed mode"
        if e["backup"] != (None if e["old"] is None else f"backup-{i}"):
            return f"backup {e['backup']!r} is not the transaction's own"
        name = path.rsplit("/", 1)[-1]
        if e["tmp"] != (None if e["new"] is None else _tmp_name(name, txid)):
            return f"temp file {e['tmp']!r} is not the transaction's own"
    for rel in created:
        if not _confined(rel) or not any(p.startswith(f"{rel}/") for p in paths):
            return f"created directory {rel!r} is not a parent of a recorded path"
    return None


def _load_manifest(key: bytes, jfd: int, txid: str) -> tuple[dict[str, Any] | None, str | None]:
    """(manifest, None) when it is codeprm's own and sound; (None, reason) otherwise."""
    try:
        found = _read_at(jfd, MANIFEST, MANIFEST_MAX_BYTES)
    except (OSError, ValueError) as err:
        return None, f"unreadable manifest ({err})"
    if found is None:
        return None, None
    try:
        manifest = json.loads(found[0])
    except ValueError:
        return None, "unreadable manifest"
    if not isinstance(manifest, dict) or not verify(
        key, "manifest", _canonical(manifest), manifest.get("hmac")
    ):
        return None, "manifest not signed by this user's codeprm"
    problem = manifest_problem(manifest, txid)
    return (None, problem) if problem else (manifest, None)


def recover_locked(root: Path, *, writing: bool = True) -> RecoveryReport:
    """``recover`` for a caller that already holds the workspace lock.

    ``writing=False`` (preview and scoring): an untrusted ``.codeprm`` is skipped and
    reported rather than refused; journals codeprm wrote are still rolled back.
    """
    try:
        journal = _open_journal(root, create=False)
    except UntrustedStateError as err:
        if writing:
            raise
        return RecoveryReport(
            ignored=({"txid": None, "path": err.details["path"], "reason": str(err)},)
        )
    if journal is None:
        return RecoveryReport()
    try:
        return _recover_journal(journal, writing)
    finally:
        journal.close()


def _recover_journal(journal: _Journal, writing: bool) -> RecoveryReport:
    names = sorted(os.listdir(journal.journal_fd), reverse=True)
    if not names:
        return RecoveryReport()
    try:
        key = journal_key(create=False)
    except WriteDeniedError:
        if writing:
            raise
        key = None
    rolled, restored, discarded, conflicts = [], [], [], []
    ignored: list[dict[str, Any]] = []
    for name in names:
        if key is None or not _txid_ok(key, name):
            ignored.append({"txid": name, "reason": "not a transaction this user's codeprm began"})
            continue
        try:
            jfd = open_dir_at(journal.journal_fd, name)
        except UntrustedStateError:
            ignored.append({"txid": name, "reason": "not a directory"})
            continue
        if jfd is None:
            continue
        try:
            manifest, problem = _load_manifest(key, jfd, name)
            if problem is not None:
                ignored.append({"txid": name, "reason": problem})
                continue
            if manifest is None:
                shutil.rmtree(name, ignore_errors=True, dir_fd=journal.journal_fd)
                discarded.append(name)
                continue
            found = _roll_back(journal.root_fd, jfd, manifest)
            _finish(journal, name, jfd, found)
        finally:
            os.close(jfd)
        rolled.append(name)
        conflicted = {c["path"] for c in found}
        restored.extend(e["display"] for e in manifest["entries"] if e["display"] not in conflicted)
        conflicts.extend(found)
    _warn_ignored(journal.root, ignored)
    return RecoveryReport(
        tuple(rolled), tuple(restored), tuple(discarded), tuple(conflicts), tuple(ignored)
    )


def _warn_ignored(root: Path, ignored: list[dict[str, Any]]) -> None:
    """One stderr line (via logging) per journal entry left alone, once per process."""
    for item in ignored:
        key = (str(root), str(item["txid"]))
        if key in _warned:
            continue
        _warned.add(key)
        log.warning(
            "codeprm: warning: ignoring %s/%s: %s (codeprm did not write it; nothing done)",
            root / JOURNAL,
            item["txid"],
            item["reason"],
        )


def recover(root: str | os.PathLike[str]) -> RecoveryReport:
    """Roll back whatever a crashed transaction left in ``root`` (see the module docstring)."""
    real = Path(os.path.realpath(os.fspath(root)))
    with workspace_lock(real):
        return recover_locked(real)


def pending(root: str | os.PathLike[str]) -> list[str]:
    """Transaction ids whose journal is still there (crashed or in progress); [] if untrusted."""
    try:
        journal = _open_journal(Path(os.path.realpath(os.fspath(root))), create=False)
    except UntrustedStateError:
        return []
    if journal is None:
        return []
    try:
        return sorted(os.listdir(journal.journal_fd))
    finally:
        journal.close()
