"""Refuse to write into a dirty git worktree unless the caller allows it (GitPython).

Dirty means: any tracked file under the workspace root that is modified, staged,
deleted, renamed or unmerged; and any untracked file the change would touch (its old
content exists nowhere else, so overwriting it could not be undone with git).
Untracked files the change does not touch do not count. A workspace outside any git
repository has no notion of dirty and passes. Refusal is WriteDeniedError (exit 71) with
the dirty paths in ``details["dirty"]``. GitPython is imported lazily.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from codeprm.errors import WriteDeniedError
from codeprm.workspace.jail import STATE_DIR

if TYPE_CHECKING:
    from git import Repo

#: Refusal messages and details list at most this many paths.
MAX_LISTED = 50


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """One ``git status --porcelain`` entry; ``path`` is relative to the workspace root."""

    status: str
    path: str

    @property
    def untracked(self) -> bool:
        return self.status == "??"


def open_repo(root: str | os.PathLike[str]) -> Repo | None:
    """The repository containing ``root``, or None when it is not inside one."""
    import git

    try:
        return git.Repo(os.fspath(root), search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def status(root: str | os.PathLike[str]) -> list[StatusEntry] | None:
    """Status entries under ``root`` (untracked files listed one by one), or None outside git."""
    repo = open_repo(root)
    if repo is None or repo.working_tree_dir is None:
        return None
    top = Path(os.path.realpath(repo.working_tree_dir))
    base = Path(os.path.realpath(os.fspath(root)))
    try:
        out = repo.git.status("--porcelain=v1", "-z", "--untracked-files=all", "--ignored=no")
    finally:
        repo.close()
    fields = out.split("\0")
    entries: list[StatusEntry] = []
    i = 0
    while i < len(fields):
        item = fields[i]
        i += 1
        if len(item) < 4:
            continue
        code, path = item[:2], item[3:]
        if "R" in code or "C" in code:
            i += 1  # the rename's source path follows; the new path is the one that matters
        absolute = top / path
        try:
            rel = absolute.relative_to(base).as_posix()
        except ValueError:
            continue  # outside the workspace root
        if rel == STATE_DIR or rel.startswith(STATE_DIR + "/"):
            continue
        entries.append(StatusEntry(code, rel))
    return entries


def dirty_paths(root: str | os.PathLike[str], touched: Iterable[str] = ()) -> list[str]:
    """The paths that make the worktree dirty for a change touching ``touched`` (sorted)."""
    entries = status(root)
    if entries is None:
        return []
    touched_set = set(touched)
    return sorted({e.path for e in entries if not e.untracked or e.path in touched_set})


def require_clean(
    root: str | os.PathLike[str], touched: Iterable[str] = (), *, allow_dirty: bool = False
) -> None:
    """Raise WriteDeniedError when the worktree is dirty and ``allow_dirty`` is False."""
    if allow_dirty:
        return
    dirty = dirty_paths(root, touched)
    if not dirty:
        return
    shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
    raise WriteDeniedError(
        f"the git worktree is dirty ({shown}); commit or stash first, or allow a dirty tree",
        details={
            "reason": "dirty-worktree",
            "dirty": dirty[:MAX_LISTED],
            "dirty_count": len(dirty),
        },
    )
