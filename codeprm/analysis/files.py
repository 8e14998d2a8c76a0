"""Reading workspace files safely and digesting a workspace snapshot.

Every source text codeprm analyses comes through ``read_source``: a missing path, a
directory, a binary or non-UTF-8 file is a clear error, never a traceback.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from codeprm.errors import NotFoundError, UsageError

#: Directory names never walked: environments, VCS data, caches, our own state.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".codeprm", ".tox", ".nox", "build", "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache"})


def find_root(start: Path, explicit: Path | None = None) -> Path:
    """The workspace root: explicit, else the nearest directory with .git, else ``start``."""
    if explicit is not None:
        if not explicit.is_dir():
            raise NotFoundError(f"workspace {explicit} is not a directory")
        return explicit.resolve()
    here = start.resolve()
    if here.is_file():
        here = here.parent
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return Path.cwd().resolve() if Path.cwd().resolve() in (here, *here.parents) else here


def iter_python_files(root: Path) -> Iterator[Path]:
    """Python sources under root in a stable order, skipping environments and caches."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".py", ".pyi")):
                yield Path(dirpath) / name


def is_walked(rel: str) -> bool:
    """Whether ``iter_python_files`` would yield this workspace-relative path."""
    *dirs, name = rel.split("/")
    return name.endswith((".py", ".pyi")) and not any(d in SKIP_DIRS or d.startswith(".") for d in dirs)


def read_source(path: Path) -> str:
    """The text of a source file, or a one-line error naming what is wrong with it."""
    if not path.exists():
        raise NotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, expected a file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror or err}") from err
    if b"\0" in data[:8192]:
        raise UsageError(f"{path}: looks like a binary file, not Python source")
    try:
        return data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not valid UTF-8 (byte {err.start}): codeprm reads UTF-8 sources only") from err


def relative(root: Path, path: Path) -> str:
    """Workspace-relative POSIX path; a path outside the workspace is an error."""
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError as err:
        raise UsageError(f"{path}: outside the workspace {root}") from err


def digest(root: Path, files: Iterable[Path]) -> str:
    """sha256 over (relative path, content hash) of the given files, in path order."""
    h = hashlib.sha256()
    for rel, path in sorted((relative(root, p), p) for p in files):
        try:
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            content = "unreadable"
        h.update(f"{rel}\0{content}\n".encode())
    return "sha256:" + h.hexdigest()


def workspace_digest(root: Path) -> str:
    """The digest of every Python source and pyright config in the workspace."""
    files = list(iter_python_files(root))
    files += [root / name for name in ("pyrightconfig.json", "pyproject.toml") if (root / name).is_file()]
    return digest(root, files)
