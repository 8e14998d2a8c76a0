"""Cheap content snapshots of workspace files, to notice external changes (editor, git checkout).

``snapshot`` records, per file, its sha256 plus size, mtime and inode. ``changed_since``
stats every file again and rehashes only those whose stat changed, or whose mtime was
too close to the snapshot to be trusted (a write in the same clock tick keeps the
mtime: git's "racily clean" problem), so an unchanged tree costs one stat per file.
A file whose stat changed but whose content did not is not reported.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeprm.workspace.jail import STATE_DIR

#: mtimes this close (ns) to the snapshot are rehashed by ``changed_since``.
RACY_WINDOW_NS = 2_000_000_000
_SKIP_DIRS = frozenset({".git", STATE_DIR})


@dataclass(frozen=True, slots=True)
class FileStamp:
    """One file's identity at snapshot time; ``sha256`` None means the file was absent."""

    sha256: str | None
    size: int = 0
    mtime_ns: int = 0
    inode: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "size": self.size,
            "mtimeNs": self.mtime_ns,
            "inode": self.inode,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileStamp:
        return cls(data["sha256"], int(data["size"]), int(data["mtimeNs"]), int(data["inode"]))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Stamps of some files of ``root``; ``complete`` when it covers every file (new ones count)."""

    root: str
    taken_ns: int
    files: dict[str, FileStamp] = field(default_factory=dict)
    complete: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "takenNs": self.taken_ns,
            "complete": self.complete,
            "files": {p: s.to_json() for p, s in sorted(self.files.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        files = {p: FileStamp.from_json(s) for p, s in data["files"].items()}
        return cls(str(data["root"]), int(data["takenNs"]), files, bool(data["complete"]))


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> FileStamp:
    try:
        st = path.stat()
        if not path.is_file():
            return FileStamp(None)
        return FileStamp(_hash(path), st.st_size, st.st_mtime_ns, st.st_ino)
    except (FileNotFoundError, NotADirectoryError):
        return FileStamp(None)


def walk_files(root: Path) -> Iterator[str]:
    """Every regular file under ``root`` as a relative POSIX path, skipping .git and .codeprm."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        base = Path(dirpath)
        for name in sorted(filenames):
            full = base / name
            if full.is_file() and not full.is_symlink():
                yield full.relative_to(root).as_posix()


def snapshot(root: str | os.PathLike[str], paths: Iterable[str] | None = None) -> Snapshot:
    """Stamp ``paths`` (workspace-relative), or every file when ``paths`` is None."""
    base = Path(os.path.realpath(os.fspath(root)))
    taken = time.time_ns()
    chosen = list(walk_files(base)) if paths is None else list(paths)
    return Snapshot(str(base), taken, {p: _stamp(base / p) for p in chosen}, complete=paths is None)


def changed_since(snap: Snapshot, *, verify: bool = False) -> list[str]:
    """Paths whose content differs from ``snap`` (created, deleted or modified), sorted.

    ``verify`` rehashes every file instead of trusting unchanged stat data.
    """
    base = Path(snap.root)
    changed = []
    for path, old in snap.files.items():
        full = base / path
        try:
            st = full.stat()
        except (FileNotFoundError, NotADirectoryError):
            if old.sha256 is not None:
                changed.append(path)
            continue
        same_stat = (
            old.sha256 is not None
            and (st.st_size, st.st_mtime_ns, st.st_ino) == (old.size, old.mtime_ns, old.inode)
            and old.mtime_ns < snap.taken_ns - RACY_WINDOW_NS
        )
        if same_stat and not verify:
            continue
        if _stamp(full).sha256 != old.sha256:
            changed.append(path)
    if snap.complete:
        changed.extend(p for p in walk_files(base) if p not in snap.files)
    return sorted(changed)
