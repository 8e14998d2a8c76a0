"""Reading a git commit range as edit steps from git objects, without touching the worktree.

``commit_steps(root, "BASE..HEAD")`` gives the tree at BASE and, oldest first along first
parents, each commit's change read with ``git diff-tree -r -z --raw -M`` against the
previous state's commit (its first parent, or BASE for the first commit). Every file git
tracks is part of the state:

- a regular file that is UTF-8 text (no NUL byte, at most ``TEXT_LIMIT`` bytes) is held
  as its text (a leading BOM dropped, as ``analysis.files.read_source`` does);
- anything else is held as an opaque token that starts with a NUL character (which no
  text held here can): ``"\\0blob <oid>"`` (binary, non-UTF-8 or large),
  ``"\\0symlink <target>"`` and ``"\\0submodule <commit>"``.

So every step applies to the previous state exactly as git applied it: deletions,
renames (a delete plus a create ``renamed_from`` it), copies (a create), type changes
(file <-> symlink) and submodule pointer moves are edits of those texts; a change of
the executable bit alone leaves the texts equal and is listed in ``CommitStep.modes``.
The tree entries themselves (mode and object id) travel with each step, for a scratch
checkout (``workspace.checkout``) that mirrors each state on disk.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeprm.errors import NotFoundError, UsageError
from codeprm.workspace.edits import FileEdit, WorkspaceChange
from codeprm.workspace.gitguard import open_repo

#: regular files larger than this are carried by object id, not text
TEXT_LIMIT = 1 << 20
SYMLINK, SUBMODULE = "120000", "160000"


@dataclass(frozen=True)
class Entry:
    """One tree entry: its git mode (``100644``, ``100755``, ``120000``, ``160000``) and object
    id."""

    mode: str
    oid: str


@dataclass(frozen=True)
class TreeChange:
    """One path of a commit's tree diff: the entry before and after (None = absent)."""

    path: str
    old: Entry | None
    new: Entry | None


@dataclass(frozen=True)
class CommitStep:
    sha: str
    subject: str
    change: WorkspaceChange
    tree: tuple[TreeChange, ...] = field(default=())
    #: paths whose mode changed while their content did not (the executable bit)
    modes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class History:
    base_sha: str
    base_texts: dict[str, str]
    steps: tuple[CommitStep, ...]
    base_tree: dict[str, Entry] = field(default_factory=dict)
    git_dir: str = ""


def is_opaque(text: str) -> bool:
    """Whether a state text is a token for a binary file, a symlink or a submodule."""
    return text.startswith("\0")


class _Reader:
    """Blob contents from the object database, through git's persistent cat-file."""

    def __init__(self, repo: Any) -> None:
        self.repo = repo

    def data(self, oid: str) -> bytes:
        return self.repo.odb.stream(bytes.fromhex(oid)).read()

    def size(self, oid: str) -> int:
        return int(self.repo.odb.info(bytes.fromhex(oid)).size)

    def text(self, entry: Entry) -> str:
        if entry.mode == SUBMODULE:
            return f"\0submodule {entry.oid}"
        if entry.mode == SYMLINK:
            return "\0symlink " + self.data(entry.oid).decode("utf-8", "surrogateescape")
        if self.size(entry.oid) > TEXT_LIMIT:
            return f"\0blob {entry.oid}"
        data = self.data(entry.oid)
        if b"\0" in data:
            return f"\0blob {entry.oid}"
        try:
            return data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
        except UnicodeDecodeError:
            return f"\0blob {entry.oid}"


def _prefix(repo: Any, root: Path) -> str:
    top = Path(os.path.realpath(repo.working_tree_dir))
    rel = Path(os.path.realpath(root)).relative_to(top).as_posix()
    return "" if rel == "." else rel + "/"


def _git(repo: Any, *args: str) -> list[str]:
    out: bytes = repo.git.execute(["git", *args], stdout_as_string=False)
    return [part.decode("utf-8", "surrogateescape") for part in out.split(b"\0")]


def ls_tree(repo: Any, commit: str) -> dict[str, Entry]:
    """Every entry of a commit's tree (``git ls-tree -r -z --full-tree``), by repository path."""
    out = {}
    for record in _git(repo, "ls-tree", "-r", "-z", "--full-tree", commit):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, _kind, oid = meta.split()
        out[path] = Entry(mode, oid)
    return out


def diff_tree(
    repo: Any, parent: str | None, commit: str
) -> list[tuple[str, Entry | None, Entry | None, str | None]]:
    """``(path, old, new, renamed_from)`` for every path a commit changes against its parent."""
    args = ["diff-tree", "-r", "-z", "--raw", "-M", "--no-abbrev", "--no-commit-id"]
    args += [parent, commit] if parent is not None else ["--root", commit]
    parts = _git(repo, *args)
    out: list[tuple[str, Entry | None, Entry | None, str | None]] = []
    i = 0
    while i < len(parts) and parts[i]:
        old_mode, new_mode, old_oid, new_oid, status = parts[i].lstrip(":").split()
        old = None if set(old_mode) == {"0"} else Entry(old_mode, old_oid)
        new = None if set(new_mode) == {"0"} else Entry(new_mode, new_oid)
        if status[0] in "RC":
            src, dst = parts[i + 1], parts[i + 2]
            i += 3
            if status[0] == "R":
                out.append((src, old, None, None))
            out.append((dst, None, new, src if status[0] == "R" else None))
        else:
            out.append((parts[i + 1], old, new, None))
            i += 2
    return out


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
        raise NotFoundError(
            f"rev range {rev_range!r} does not exist in {repo.working_tree_dir}"
        ) from err
    prefix = _prefix(repo, root)
    reader = _Reader(repo)

    def rel(path: str) -> str | None:
        return path[len(prefix) :] if path.startswith(prefix) and len(path) > len(prefix) else None

    base_tree = {r: e for p, e in ls_tree(repo, base.hexsha).items() if (r := rel(p)) is not None}
    base_texts = {path: reader.text(entry) for path, entry in base_tree.items()}
    state = dict(base_texts)
    steps = []
    previous: str = base.hexsha
    for commit in commits:
        # against the previous state's commit: along first parents that is the parent; when
        # BASE is no ancestor of HEAD the first step still lands exactly on its commit's tree
        edits, tree, modes = [], [], []
        for repo_path, old, new, source in diff_tree(repo, previous, commit.hexsha):
            path = rel(repo_path)
            if path is None:
                continue
            renamed = rel(source) if source is not None else None
            tree.append(TreeChange(path, old, new))
            before = state.get(path) if old is not None else None
            after = reader.text(new) if new is not None else None
            if before == after:
                if old is not None and new is not None and old.mode != new.mode:
                    modes.append(path)
                continue
            edits.append(FileEdit(path, before, after, renamed if before is None else None))
        deleted = {e.path for e in edits if e.new_text is None}
        # a rename whose source lies outside root is a plain create
        change = WorkspaceChange.of(
            e if e.renamed_from in (None, *deleted) else FileEdit(e.path, e.old_text, e.new_text)
            for e in edits
        )
        for edit in change.edits:
            if edit.new_text is None:
                state.pop(edit.path, None)
            else:
                state[edit.path] = edit.new_text
        previous = commit.hexsha
        subject = commit.message.splitlines()[0] if commit.message else ""
        steps.append(CommitStep(commit.hexsha, subject, change, tuple(tree), tuple(sorted(modes))))
    return History(base.hexsha, base_texts, tuple(steps), base_tree, str(repo.git_dir))


def tree_after(tree: Mapping[str, Entry], changes: tuple[TreeChange, ...]) -> dict[str, Entry]:
    """A tree (path -> entry) after one commit's changes."""
    out = dict(tree)
    for c in changes:
        if c.new is None:
            out.pop(c.path, None)
        else:
            out[c.path] = c.new
    return out
