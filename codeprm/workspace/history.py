"""Reading a git commit range as edit steps (GitPython), without touching the worktree.

``commit_steps(root, "BASE..HEAD")`` gives the text of every Python file at BASE and,
oldest first along first parents, each commit's change as whole-file before/after
texts read from git objects. Binary or non-UTF-8 files are left out of the steps (they
cannot be scored) and listed in ``skipped``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeprm.errors import NotFoundError, UsageError
from codeprm.workspace.edits import FileEdit, WorkspaceChange
from codeprm.workspace.gitguard import open_repo


@dataclass(frozen=True)
class CommitStep:
    sha: str
    subject: str
    change: WorkspaceChange
    skipped: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class History:
    base_sha: str
    base_texts: dict[str, str]
    steps: tuple[CommitStep, ...]


def _text(blob: Any) -> str | None:
    data = blob.data_stream.read()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _prefix(repo: Any, root: Path) -> str:
    top = Path(os.path.realpath(repo.working_tree_dir))
    rel = Path(os.path.realpath(root)).relative_to(top).as_posix()
    return "" if rel == "." else rel + "/"


def commit_steps(root: Path, rev_range: str) -> History:
    """Steps of ``BASE..HEAD`` (paths relative to ``root``, which may be a subdirectory)."""
    import git

    repo = open_repo(root)
    if repo is None or repo.working_tree_dir is None:
        raise NotFoundError(f"{root} is not inside a git repository")
    base_rev, sep, head_rev = rev_range.partition("..")
    if not sep or not base_rev or not head_rev or head_rev.startswith("."):
        raise UsageError(f"bad rev range {rev_range!r}: expected BASE..HEAD")
    try:
        base = repo.commit(base_rev)
        repo.commit(head_rev)
        commits = list(repo.iter_commits(rev_range, first_parent=True, reverse=True))
    except (git.BadName, git.GitCommandError, ValueError) as err:
        raise NotFoundError(f"rev range {rev_range!r} does not exist in {repo.working_tree_dir}") from err
    prefix = _prefix(repo, root)

    def rel(path: str | None) -> str | None:
        if path is None or not path.startswith(prefix):
            return None
        return path[len(prefix) :]

    base_texts: dict[str, str] = {}
    for item in base.tree.traverse():
        path = rel(getattr(item, "path", None))
        if item.type == "blob" and path and path.endswith((".py", ".pyi")):
            text = _text(item)
            if text is not None:
                base_texts[path] = text

    steps = []
    for commit in commits:
        parent = commit.parents[0] if commit.parents else None
        diffs = parent.diff(commit) if parent is not None else commit.diff(git.NULL_TREE)
        edits, skipped = [], []
        for d in diffs:
            old_path, new_path = rel(d.a_path if d.a_blob else None), rel(d.b_path if d.b_blob else None)
            old = _text(d.a_blob) if d.a_blob is not None and old_path else None
            new = _text(d.b_blob) if d.b_blob is not None and new_path else None
            if (old_path and d.a_blob is not None and old is None) or (new_path and d.b_blob is not None and new is None):
                skipped.append(new_path or old_path or "")
                continue
            if old_path and new_path and old_path != new_path:
                edits.append(FileEdit(old_path, old, None))
                edits.append(FileEdit(new_path, None, new, renamed_from=old_path))
            elif old_path or new_path:
                path = new_path or old_path
                assert path is not None
                if old != new:
                    edits.append(FileEdit(path, old, new))
        subject = commit.message.splitlines()[0] if commit.message else ""
        steps.append(CommitStep(commit.hexsha, subject, WorkspaceChange.of(edits), tuple(sorted(skipped))))
    return History(base.hexsha, base_texts, tuple(steps))
