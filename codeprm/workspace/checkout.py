"""A scratch checkout that mirrors the states of a commit range on disk, outside the workspace.

The language server resolves imports against the file system: a module the state has
but the disk lacks (deleted later in the range) does not resolve, and one the disk has
but the state lacks (added later, untracked) does. Scoring a commit range therefore
measures each state in a temporary directory that holds exactly the files git tracks
at that commit (blobs written byte for byte, the executable bit, symlinks, an empty
directory per submodule), moved from state to state by each commit's tree changes. The
user's workspace is never written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from codeprm.workspace.history import SUBMODULE, SYMLINK, Entry, TreeChange
from codeprm.workspace.mirror import claim_scratch


class ScratchCheckout:
    """A temporary directory holding one tree; ``apply`` moves it along a commit's changes."""

    def __init__(self, git_dir: str, tree: Mapping[str, Entry], key: str = "") -> None:
        import git

        self._repo: Any = git.Repo(git_dir)
        self._lock: Any = None
        self.root = self._claim(key)
        for path in sorted(tree):
            self._write(path, tree[path])

    def __enter__(self) -> ScratchCheckout:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _claim(self, key: str) -> Path:
        self.root, self._lock = claim_scratch(key, "codeprm-range-")
        return self.root

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self._repo.close()
        if self._lock is not None:
            Path(self._lock.name).unlink(missing_ok=True)
            self._lock.close()
            self._lock = None

    def apply(self, changes: Iterable[TreeChange]) -> list[tuple[Path, str]]:
        """Apply one commit's tree changes; returns ``(path, created|changed|deleted)`` events."""
        changes = list(changes)
        events: list[tuple[Path, str]] = []
        for c in changes:  # deletions first: a file may give way to a directory of that name
            if c.old is not None and c.new is None:
                self._remove(c.path)
                events.append((self.root / c.path, "deleted"))
        for c in changes:
            if c.new is not None:
                if c.old is not None:
                    self._remove(c.path)
                self._write(c.path, c.new)
                events.append((self.root / c.path, "created" if c.old is None else "changed"))
        return events

    def _write(self, path: str, entry: Entry) -> None:
        target = self.root / path
        parent = target.parent
        if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
            parent.unlink()
        parent.mkdir(parents=True, exist_ok=True)
        if entry.mode == SUBMODULE:
            target.mkdir(exist_ok=True)
            return
        data = self._repo.odb.stream(bytes.fromhex(entry.oid)).read()
        if entry.mode == SYMLINK:
            os.symlink(os.fsdecode(data), target)
            return
        target.write_bytes(data)
        target.chmod(0o755 if entry.mode == "100755" else 0o644)

    def _remove(self, path: str) -> None:
        target = self.root / path
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        parent = target.parent  # git removes directories a deletion leaves empty
        while (
            parent != self.root
            and parent.is_dir()
            and not parent.is_symlink()
            and not any(parent.iterdir())
        ):
            parent.rmdir()
            parent = parent.parent
