"""Earlier texts of workspace files, kept under ``.codeprm/index/`` across processes.

A selector may carry ``?v=<sha256 prefix>`` of the text it was made against. A
``WorkspaceIndex`` remembers earlier texts only while it lives, so a later process (a
new ``codeprm locate``, or the daemon answering it with a fresh index) could not
relocate such a selector. ``TextStore`` keeps the texts codeprm resolved selectors
against, one file per (content hash, path):

    .codeprm/index/<sha256 of the text>-<sha256 of the path, 16 hex>.json
    {"format": 1, "path": ..., "sha256": ..., "text": ..., "mac": ...}

The directory is untrusted (a cloned repository can ship one), so an entry is used only
when everything checks: a regular file reached without following a symlink
(``codeprm.workspace.private``), at most ``MAX_ENTRY_BYTES``, its name matching its
path and content hash, ``sha256(text)`` equal to that hash, and a ``mac`` made with this
user's key (kept outside every workspace). Anything else is ignored. Writes go to a
private temp file and are renamed into place (readers see a whole entry or none; two
processes writing the same entry write the same bytes). Bounded: at most
``per_path`` entries for one path and ``max_entries`` / ``max_bytes`` in all, the least
recently used evicted first. Best effort: a store that cannot be written (a symlinked
``.codeprm``, a read-only tree) makes relocation forget, never a command fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
import time
from pathlib import Path

from codeprm.errors import CodeprmError
from codeprm.workspace.private import (
    closing_fd,
    journal_key,
    open_dir_at,
    open_root,
    open_state_dir,
    sign,
    verify,
)

INDEX_DIR = "index"
FORMAT = 1
MAX_ENTRY_BYTES = 17 * 1024 * 1024  # a 16 MiB source plus its JSON escaping, roughly
_PURPOSE = "codeprm-text-store-v1"
_NAME = re.compile(r"^([0-9a-f]{64})-([0-9a-f]{16})\.json$")
_TMP_PREFIX = ".tmp-"
_STALE_TMP_SECONDS = 3600.0
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _path_key(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _valid_path(path: object) -> bool:
    if not isinstance(path, str) or not path or "\0" in path or path.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


class TextStore:
    """Remembered (path, text) pairs of one workspace, looked up by content-hash prefix."""

    def __init__(
        self,
        root: Path,
        *,
        per_path: int = 8,
        max_entries: int = 256,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.root = root.resolve()
        self.per_path = per_path
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    # -- handles ----------------------------------------------------------------------

    def _open(self, *, create: bool) -> int | None:
        """A handle on ``.codeprm/index`` (never through a symlink), or None."""
        with closing_fd(open_root(self.root)) as root_fd:
            assert root_fd is not None
            state = open_state_dir(root_fd, self.root, create=create)
            with closing_fd(state) as state_fd:
                if state_fd is None:
                    return None
                return open_dir_at(
                    state_fd, INDEX_DIR, create=create, mode=0o700, where=".codeprm/index"
                )

    # -- reading ----------------------------------------------------------------------

    def lookup(self, version: str, path: str | None = None) -> list[tuple[str, str, str]]:
        """``(path, sha256, text)`` of valid entries whose hash starts with ``version``.

        Most recently used first. Never raises for what the directory holds.
        """
        version = version.lower()
        if not re.fullmatch(r"[0-9a-f]{0,64}", version):
            return []
        try:
            key = journal_key(create=False)
            if key is None:  # no key yet: nothing here can be ours
                return []
            fd = self._open(create=False)
        except (CodeprmError, OSError):
            return []
        with closing_fd(fd):
            if fd is None:
                return []
            found: list[tuple[int, str, str, str, str]] = []
            for name in _listdir(fd):
                m = _NAME.match(name)
                if m is None or not m.group(1).startswith(version):
                    continue
                if path is not None and m.group(2) != _path_key(path):
                    continue
                entry = _read_entry(fd, name, m.group(1), m.group(2), key)
                if entry is not None:
                    found.append((entry[0], name, *entry[1:]))
            found.sort(key=lambda e: (-e[0], e[1]))
            for _, name, *_rest in found:  # a hit is a use: keep it from eviction
                _touch(fd, name)
            return [(p, sha, text) for _, _, p, sha, text in found]

    # -- writing ----------------------------------------------------------------------

    def remember(self, path: str, text: str) -> bool:
        """Keep ``text`` as a version of ``path``; False when the store cannot be written."""
        if not _valid_path(path):
            return False
        data_sha = _sha(text)
        name = f"{data_sha}-{_path_key(path)}.json"
        try:
            key = journal_key(create=True)
            assert key is not None
            fd = self._open(create=True)
        except (CodeprmError, OSError):
            return False
        with closing_fd(fd):
            if fd is None:
                return False
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISREG(st.st_mode):
                    _touch(fd, name)
                    return True
            except FileNotFoundError:
                pass
            except OSError:
                return False
            body = {
                "format": FORMAT,
                "path": path,
                "sha256": data_sha,
                "text": text,
                "mac": sign(key, _PURPOSE, f"{path}\0{data_sha}".encode("utf-8", "surrogatepass")),
            }
            data = json.dumps(body, ensure_ascii=True, sort_keys=True).encode("ascii")
            if len(data) > MAX_ENTRY_BYTES:
                return False
            if not _write_atomic(fd, name, data):
                return False
            _touch(fd, name)
            self._evict(fd)
            return True

    def _evict(self, fd: int) -> None:
        """Drop the least recently used entries beyond the bounds, and stale temp files."""
        now = time.time()
        entries: list[tuple[int, str, str, int]] = []  # (mtime ns, name, path key, size)
        for name in _listdir(fd):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue
            if name.startswith(_TMP_PREFIX):
                if now - st.st_mtime > _STALE_TMP_SECONDS:
                    _unlink(fd, name)
                continue
            m = _NAME.match(name)
            if m is None or not stat.S_ISREG(st.st_mode):
                continue
            entries.append((st.st_mtime_ns, name, m.group(2), st.st_size))
        entries.sort(key=lambda e: (-e[0], e[1]))  # most recently used first
        kept_per_path: dict[str, int] = {}
        total_bytes = 0
        kept = 0
        for _mtime, name, pkey, size in entries:
            n = kept_per_path.get(pkey, 0)
            if (
                n >= self.per_path
                or kept >= self.max_entries
                or total_bytes + size > self.max_bytes
            ):
                _unlink(fd, name)
                continue
            kept_per_path[pkey] = n + 1
            kept += 1
            total_bytes += size


def _listdir(fd: int) -> list[str]:
    try:
        return sorted(os.listdir(fd))
    except OSError:
        return []


def _touch(fd: int, name: str) -> None:
    """Mark an entry used now (explicit nanoseconds: file timestamps are coarser)."""
    now = time.time_ns()
    with contextlib.suppress(OSError):
        os.utime(name, ns=(now, now), dir_fd=fd, follow_symlinks=False)


def _unlink(fd: int, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=fd)


def _write_atomic(fd: int, name: str, data: bytes) -> bool:
    tmp = f"{_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    try:
        out = os.open(tmp, _WRITE_FLAGS, 0o600, dir_fd=fd)
    except OSError:
        return False
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(out, view) :]
        finally:
            os.close(out)
        os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        return True
    except OSError:
        _unlink(fd, tmp)
        return False


def _read_entry(
    fd: int, name: str, sha: str, pkey: str, key: bytes
) -> tuple[int, str, str, str] | None:
    """(mtime, path, sha256, text) of one entry, or None when anything about it is off."""
    try:
        h = os.open(name, _READ_FLAGS, dir_fd=fd)
    except OSError:  # gone, a symlink (ELOOP), a FIFO without writer (ENXIO), unreadable
        return None
    try:
        st = os.fstat(h)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_ENTRY_BYTES:
            return None
        chunks: list[bytes] = []
        left = st.st_size + 1
        while left > 0:
            chunk = os.read(h, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        raw = b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(h)
    if len(raw) > MAX_ENTRY_BYTES:
        return None
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        return None
    path, text, mac = body.get("path"), body.get("text"), body.get("mac")
    if not _valid_path(path) or not isinstance(text, str) or body.get("sha256") != sha:
        return None
    assert isinstance(path, str)
    if _path_key(path) != pkey or _sha(text) != sha:
        return None
    if not verify(key, _PURPOSE, f"{path}\0{sha}".encode("utf-8", "surrogatepass"), mac):
        return None
    return st.st_mtime_ns, path, sha, text
