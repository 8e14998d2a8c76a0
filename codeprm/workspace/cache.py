"""A cache of materialised workspaces: one git worktree per (repository, commit), LRU-evicted.

An RL trainer hands the reward a sample, not a workspace: each sample names its
repository and commit, and the reward must score it in that state. The cache turns
``(repo, commit)`` into a directory holding exactly that commit's tree, a detached git
worktree of a clone the cache owns:

* a git URL is cloned once (bare) into the cache and fetched from only when a commit is
  missing;
* a local repository is used as is: the cache's clone borrows its objects
  (``git clone --shared``), so nothing is copied and the user's repository (its
  ``.git/worktrees`` included) is never written;
* only repositories on the allow-list are accepted, matched after normalisation (a
  request never names an arbitrary path), and a commit is hexadecimal (never an option
  or a ref expression);
* trees are evicted least recently used first when there are more than ``max_trees`` or
  they take more than ``max_bytes`` on disk; a tree in use (``with cache.tree(...)``,
  in this or another process: a shared ``flock`` on its lock file) is never evicted.

Several processes may share one cache directory: the index is read and written under
an exclusive lock on ``<root>/lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeprm.errors import NotFoundError, UsageError

_HEX = re.compile(r"[0-9a-fA-F]{4,40}")
_URL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|[^/\s]+@[^/\s:]+:)")
INDEX_VERSION = 1


class RepoDeniedError(UsageError):
    """A sample names a repository that is not on the allow-list (exit 2)."""


def is_url(repo: str) -> bool:
    return bool(_URL.match(repo))


def normalise(repo: str) -> str:
    """The identity of a repository: a URL without a trailing ``/`` or ``.git``, or the
    resolved absolute path of a local repository."""
    repo = repo.strip()
    if not repo:
        raise UsageError("the sample's workspace has no repo")
    if is_url(repo):
        repo = repo.rstrip("/")
        return repo[:-4] if repo.endswith(".git") else repo
    return str(Path(repo).expanduser().resolve())


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:20]


def _git(*args: str, cwd: str | None = None) -> str:
    import git

    try:
        return str(git.Git(cwd).execute(["git", *args], env={"GIT_TERMINAL_PROMPT": "0"}))
    except git.GitCommandError as err:
        stderr = (err.stderr or "").strip().splitlines()
        raise NotFoundError(f"git {args[0]} failed: {stderr[-1] if stderr else err}") from err


def _size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


@dataclass(frozen=True)
class Tree:
    """One materialised (repository, commit)."""

    repo: str  # normalised
    commit: str  # the full sha
    path: Path


class WorkspaceCache:
    """See the module docstring."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        allow: Iterable[str],
        max_trees: int = 16,
        max_bytes: int = 8 << 30,
    ) -> None:
        if max_trees < 1 or max_bytes < 1:
            raise UsageError("the workspace cache needs max_trees >= 1 and max_bytes >= 1")
        self.root = Path(root).expanduser().resolve()
        self.allow = frozenset(normalise(r) for r in allow)
        if not self.allow:
            raise UsageError("the workspace cache needs an allow-list of repositories")
        self.max_trees = max_trees
        self.max_bytes = max_bytes
        for sub in ("repos", "trees", "locks"):
            (self.root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)

    # -- locking and the index -------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        with open(self.root / "lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index_path = self.root / "index.json"
            try:
                index = json.loads(index_path.read_text()) if index_path.exists() else {}
            except (OSError, ValueError):
                index = {}
            if index.get("version") != INDEX_VERSION:
                index = {"version": INDEX_VERSION, "clock": 0, "trees": {}}
            yield index
            tmp = index_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(index, sort_keys=True))
            os.replace(tmp, index_path)

    # -- public API ---------------------------------------------------------------

    def check(self, repo: str) -> str:
        """The normalised repository, or RepoDeniedError."""
        norm = normalise(repo)
        if norm not in self.allow:
            raise RepoDeniedError(f"repository not on the allow-list: {repo}")
        return norm

    @contextlib.contextmanager
    def tree(self, repo: str, commit: str) -> Iterator[Tree]:
        """The worktree of ``commit``, held (never evicted) for the ``with`` block."""
        norm = self.check(repo)
        if not _HEX.fullmatch(commit or ""):
            raise UsageError(f"a sample's commit must be a hexadecimal sha, not {commit!r}")
        clone = self._clone(norm)
        sha = self._resolve(norm, clone, commit)
        key = _key(norm, sha)
        with open(self.root / "locks" / f"{key}.lock", "a+") as hold:
            fcntl.flock(hold, fcntl.LOCK_SH)
            path = self.root / "trees" / key
            with self._locked() as index:
                entry = index["trees"].get(key)
                if entry is None or not (path / ".git").exists():
                    if path.exists():  # a half-made tree from a crash
                        self._remove(clone, path)
                    _git(
                        "--git-dir",
                        str(clone),
                        "worktree",
                        "add",
                        "--detach",
                        "--force",
                        str(path),
                        sha,
                    )
                    entry = {
                        "repo": norm,
                        "commit": sha,
                        "bytes": _size(path) - _size(path / ".git"),
                    }
                index["clock"] += 1
                entry["used"] = index["clock"]
                index["trees"][key] = entry
                self._evict(index, keep=key)
            yield Tree(norm, sha, path)

    def trees(self) -> list[dict[str, Any]]:
        """What the cache holds, least recently used first."""
        with self._locked() as index:
            return sorted(
                ({"key": k, **v} for k, v in index["trees"].items()), key=lambda e: e["used"]
            )

    # -- internals ----------------------------------------------------------------

    def _clone(self, norm: str) -> Path:
        clone = self.root / "repos" / f"{_key(norm)}.git"
        if (clone / "HEAD").exists():
            return clone
        with open(self.root / "locks" / f"{clone.name}.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (clone / "HEAD").exists():
                return clone
            tmp = clone.with_suffix(".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            if is_url(norm):
                _git("clone", "--bare", "--quiet", "--", norm, str(tmp))
            else:
                if not Path(norm).is_dir():
                    raise NotFoundError(f"repository not found: {norm}")
                _git("clone", "--bare", "--shared", "--quiet", "--", norm, str(tmp))
            os.replace(tmp, clone)
        return clone

    def _resolve(self, norm: str, clone: Path, commit: str) -> str:
        def rev() -> str | None:
            try:
                return _git(
                    "--git-dir",
                    str(clone),
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    f"{commit}^{{commit}}",
                ).strip()
            except NotFoundError:
                return None

        sha = rev()
        if sha is None:  # a commit newer than the clone: fetch once
            _git(
                "--git-dir",
                str(clone),
                "fetch",
                "--quiet",
                "--",
                norm,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            )
            sha = rev()
        if sha is None:
            raise NotFoundError(f"commit {commit} not found in {norm}")
        return sha

    def _evict(self, index: dict[str, Any], keep: str) -> None:
        trees: dict[str, Any] = index["trees"]
        for key in sorted(trees, key=lambda k: trees[k]["used"]):
            over = (
                len(trees) > self.max_trees
                or sum(e["bytes"] for e in trees.values()) > self.max_bytes
            )
            if not over:
                return
            if key == keep:
                continue
            with open(self.root / "locks" / f"{key}.lock", "a+") as hold:
                try:
                    fcntl.flock(hold, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # in use by someone: it stays
                self._remove(
                    self.root / "repos" / f"{_key(trees[key]['repo'])}.git",
                    self.root / "trees" / key,
                )
                del trees[key]

    @staticmethod
    def _remove(clone: Path, path: Path) -> None:
        with contextlib.suppress(NotFoundError):
            _git("--git-dir", str(clone), "worktree", "remove", "--force", str(path))
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(NotFoundError):
            _git("--git-dir", str(clone), "worktree", "prune")
