"""Reading workspace files safely and digesting a workspace snapshot.

Every source text codeprm analyses comes through ``read_source`` (``codeprm.safeio``): a
missing path, a directory, a FIFO or device, a file over 16 MiB, a binary or non-UTF-8
file is a clear error, never a traceback or a hang.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from codeprm import pyfiles, safeio
from codeprm.errors import CodeprmError, NotFoundError, UsageError

if TYPE_CHECKING:
    from codeprm.languages import Language

#: Directory names never walked (the one definition: ``codeprm.pyfiles``).
SKIP_DIRS = pyfiles.SKIP_DIRS


def find_root(start: Path, explicit: Path | None = None, cwd: Path | None = None) -> Path:
    """The workspace root: explicit, else the nearest directory with .git, else ``start``.

    Relative paths are relative to ``cwd`` (the caller's directory; None: the process's),
    which is also the root when it holds ``start`` and no .git is found.
    """
    if explicit is not None:
        explicit_path = explicit if cwd is None else cwd / explicit
        if not explicit_path.is_dir():
            raise NotFoundError(f"workspace {explicit} is not a directory")
        return explicit_path.resolve()
    start = start if cwd is None else cwd / start
    try:
        here = start.resolve()
    except (OSError, RuntimeError, ValueError):  # a loop, a too-long or NUL name: judged later
        here = Path(os.path.abspath(start))
    if safeio.is_regular(here):
        here = here.parent
    for candidate in (here, *here.parents):
        if _exists(candidate / ".git"):
            return candidate
    top = (cwd if cwd is not None else Path.cwd()).resolve()
    return top if top in (here, *here.parents) else here


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, a NUL
        return False


def iter_python_files(root: Path, skipped: list[tuple[Path, str]] | None = None) -> Iterator[Path]:
    """Python sources under root in a stable order, skipping environments and caches.

    Only regular files (or symlinks to them) of at most ``safeio.MAX_FILE_BYTES`` are
    yielded: a FIFO, socket or device named ``*.py`` would block or never end a read.
    What is left out, and why, is appended to ``skipped`` when given.
    """
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if pyfiles.walks_dir(d))
        for name in sorted(filenames):
            if pyfiles.is_source_name(name):
                path = Path(dirpath) / name
                found = safeio.problem(path)
                if found is None:
                    yield path
                elif skipped is not None:
                    skipped.append((path, found.one_line()))


def iter_source_files(root: Path, skipped: list[tuple[Path, str]] | None = None) -> Iterator[Path]:
    """Sources of every language the workspace uses (``codeprm.languages.detected``): Python
    always, others when their marker file is at the root. A Python-only workspace walks
    exactly what ``iter_python_files`` walks."""
    from codeprm.languages import detected

    yield from iter_files_of(
        root, tuple(s for lang in detected(root) for s in lang.suffixes), skipped
    )


def iter_files_of(
    root: Path, suffixes: tuple[str, ...], skipped: list[tuple[Path, str]] | None = None
) -> Iterator[Path]:
    """The walk's sources with these suffixes (Python's alone: ``iter_python_files``)."""
    if suffixes == pyfiles.SUFFIXES:
        yield from iter_python_files(root, skipped)
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if pyfiles.walks_dir(d))
        for name in sorted(filenames):
            if name.endswith(suffixes) and not name.startswith("."):
                path = Path(dirpath) / name
                found = safeio.problem(path)
                if found is None:
                    yield path
                elif skipped is not None:
                    skipped.append((path, found.one_line()))


def is_source_walked(root: Path, rel: str) -> bool:
    """Whether ``iter_source_files`` would yield this workspace-relative path."""
    from codeprm.languages import detected

    *dirs, name = rel.split("/")
    suffixes = tuple(s for lang in detected(root) for s in lang.suffixes)
    return (
        name.endswith(suffixes)
        and not name.startswith(".")
        and not any(d in SKIP_DIRS or d.startswith(".") for d in dirs)
    )


def is_walked(rel: str) -> bool:
    """Whether ``iter_python_files`` would yield this workspace-relative path."""
    *dirs, name = rel.split("/")
    return name.endswith((".py", ".pyi")) and not any(
        d in SKIP_DIRS or d.startswith(".") for d in dirs
    )


def read_source(path: Path) -> str:
    """The text of a source file, or a one-line error naming what is wrong with it."""
    return safeio.read_text(path)


def relative(root: Path, path: Path) -> str:
    """Workspace-relative POSIX path; a path outside the workspace is an error."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as err:  # a symlink loop (RuntimeError before 3.13)
        raise UsageError(f"{path}: cannot resolve: {err}") from err
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError as err:
        raise UsageError(f"{path}: outside the workspace {root}") from err


def digest(root: Path, files: Iterable[Path]) -> str:
    """sha256 over (relative path, content hash) of the given files, in path order."""
    h = hashlib.sha256()
    for rel, path in sorted((relative(root, p), p) for p in files):
        try:
            content = hashlib.sha256(safeio.read_bytes(path)).hexdigest()
        except CodeprmError:
            content = "unreadable"
        h.update(f"{rel}\0{content}\n".encode())
    return "sha256:" + h.hexdigest()


def workspace_digest(root: Path) -> str:
    """The digest of every source (``iter_source_files``) and server config in the workspace."""
    from codeprm.languages import detected

    files = list(iter_source_files(root))
    configs = ["pyrightconfig.json", "pyproject.toml"]
    configs += [m for lang in detected(root) for m in lang.markers if m not in configs]
    files += [root / name for name in configs if safeio.is_regular(root / name)]
    return digest(root, files)


class SourceFileSet:
    """The workspace's sources of ``languages`` (default: Python) as the walk finds them
    (``iter_python_files`` for Python alone), kept between calls.

    ``current()`` walks again only when a walked directory's modification time moved (a
    file created, deleted or renamed in it) or a directory came or went: a stat per
    directory instead of a walk, so that comparing each measured state's file set with
    the disk's costs next to nothing in a warm daemon.
    """

    def __init__(self, root: Path, languages: tuple[Language, ...] = ()) -> None:
        self.root = root
        self.suffixes = tuple(s for lang in languages for s in lang.suffixes) or pyfiles.SUFFIXES
        self._files: frozenset[str] | None = None
        self._stamps: dict[str, int] = {}
        self._recent = False

    def _stale(self) -> bool:
        if self._recent:  # a directory changed about when it was walked: coarse clocks
            return True
        for d, stamp in self._stamps.items():
            try:
                if os.stat(d).st_mtime_ns != stamp:
                    return True
            except OSError:
                return True
        return False

    def current(self) -> frozenset[str]:
        if self._files is None or self._stale():
            import time

            walked = time.time_ns()
            stamps: dict[str, int] = {}
            for dirpath, dirnames, _ in os.walk(self.root):
                dirnames[:] = [d for d in dirnames if pyfiles.walks_dir(d)]
                try:
                    stamps[dirpath] = os.stat(dirpath).st_mtime_ns
                except OSError:
                    continue
            self._files = frozenset(
                relative(self.root, p) for p in iter_files_of(self.root, self.suffixes)
            )
            self._stamps = stamps
            self._recent = any(stamp > walked - 2_000_000_000 for stamp in stamps.values())
        return self._files
