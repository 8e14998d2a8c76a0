"""A scratch mirror of a workspace's sources, outside it, holding one in-memory state.

The language servers resolve imports against the file system, but scored states live in
memory: a module a state creates would not resolve, and one it deletes still would (a
server that closes a document reads the disk's copy again). A state whose set of source
files differs from the disk's is therefore measured by servers rooted in this mirror: a
temporary directory holding exactly the state's sources of the mirrored languages
(Python always, ``.py`` / ``.pyi``; TypeScript/JavaScript when the workspace uses it; the
walk's rules) at their workspace-relative paths, plus copies of the workspace's checker
configuration (``pyrightconfig.json``, ``pyproject.toml``; ``tsconfig*.json``,
``jsconfig.json`` and ``package.json`` wherever the walk finds them), its ``py.typed``
markers, and links to its ``node_modules`` folders (read only, for packages' types).
``sync`` moves it to another state and returns the ``(path, created|changed|deleted)``
events the servers must be told. The user's workspace is only read, never written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codeprm import pyfiles
from codeprm.languages import PYTHON, TYPESCRIPT, Language, detected, is_walked

#: the workspace's files the Python server reads at start (copied once, as on disk)
CONFIG_FILES = ("pyrightconfig.json", "pyproject.toml")
#: TypeScript's project files, copied from every walked folder (a monorepo has several)
TS_CONFIG_FILES = ("package.json", "jsconfig.json")
#: the languages whose file sets the mirror follows (C's server reads a compilation
#: database with absolute paths: not mirrored)
MIRRORED = (PYTHON, TYPESCRIPT)


def mirror_languages(root: Path) -> tuple[Language, ...]:
    """The mirrored languages a workspace uses (Python always)."""
    return tuple(lang for lang in detected(root) if lang in MIRRORED)


def claim_scratch(key: str, prefix: str) -> tuple[Path, Any]:
    """A scratch directory outside every workspace, and the lock that holds it (or None).

    Named after ``key`` (so a traced run replays with the same paths) and locked: a
    directory of that name whose lock nobody holds is a leftover and is replaced; one in
    use by another process leaves this run a fresh random name.
    """
    tmp = Path(os.path.realpath(tempfile.gettempdir()))
    if key:
        try:
            import fcntl
        except ImportError:  # no advisory locks: a random name
            fcntl = None  # type: ignore[assignment]
        if fcntl is not None:
            name = prefix + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]
            lock = (tmp / (name + ".lock")).open("a")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
            else:
                shutil.rmtree(tmp / name, ignore_errors=True)
                (tmp / name).mkdir()
                return tmp / name, lock
    return Path(os.path.realpath(tempfile.mkdtemp(prefix=prefix))), None


def mirrored(path: str, text: str, languages: tuple[Language, ...] = (PYTHON,)) -> bool:
    """Whether a state's file is one the mirror holds (and the file sets are compared on):
    a walked source of ``languages`` held as text (a commit range's opaque tokens are not)."""
    parts = path.split("/")
    return (
        is_walked(path, languages)
        and not path.startswith("/")
        and all(p not in ("", ".", "..") for p in parts)
        and not text.startswith("\0")
    )


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


class ScratchMirror:
    """A temporary directory mirroring one state's Python files (see the module docstring)."""

    def __init__(
        self, workspace: Path, key: str = "", languages: tuple[Language, ...] = (PYTHON,)
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.languages = languages
        self.root, self._lock = claim_scratch(key, "codeprm-mirror-")
        self._held: dict[str, str] = {}  # path -> sha256 of the bytes written
        self._copy_config()

    def __enter__(self) -> ScratchMirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _copy_config(self) -> None:
        for name in CONFIG_FILES:
            self._copy(name)
        typescript = TYPESCRIPT in self.languages
        for dirpath, dirnames, filenames in os.walk(self.workspace):
            rel = Path(dirpath).relative_to(self.workspace)
            if typescript and "node_modules" in dirnames:
                self._link((rel / "node_modules").as_posix())
            dirnames[:] = sorted(d for d in dirnames if pyfiles.walks_dir(d))
            names = ["py.typed"]
            if typescript:
                names += [
                    n
                    for n in sorted(filenames)
                    if n in TS_CONFIG_FILES or (n.startswith("tsconfig") and n.endswith(".json"))
                ]
            for name in names:
                if name in filenames:
                    self._copy((rel / name).as_posix())

    def _link(self, rel: str) -> None:
        """A link to one of the workspace's folders (installed packages: never written)."""
        target = self.root / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(self.workspace / rel, target_is_directory=True)
        except OSError:  # no links here: packages' types are then missing in the mirror
            return

    def _copy(self, rel: str) -> None:
        from codeprm import safeio
        from codeprm.errors import CodeprmError

        source = self.workspace / rel
        if source.is_symlink() or not source.is_file():
            return
        try:
            data = safeio.read_bytes(source)
        except (OSError, CodeprmError):  # an unreadable config is simply not mirrored
            return
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        if self._lock is not None:
            Path(self._lock.name).unlink(missing_ok=True)
            self._lock.close()
            self._lock = None

    def sync(self, texts: Mapping[str, str]) -> list[tuple[Path, str]]:
        """Make the mirror hold exactly the state's sources; the events, in path order."""
        want = {p: _encode(t) for p, t in texts.items() if mirrored(p, t, self.languages)}
        events: list[tuple[Path, str]] = []
        for path in sorted(set(self._held) - set(want)):
            self._remove(path)
            del self._held[path]
            events.append((self.root / path, "deleted"))
        for path in sorted(want):
            sha = hashlib.sha256(want[path]).hexdigest()
            if self._held.get(path) == sha:
                continue
            target = self.root / path
            try:
                if target.parent.exists() and not target.parent.is_dir():
                    continue  # a file where the state wants a directory: not representable
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(want[path])
            except OSError:
                continue
            events.append((target, "changed" if path in self._held else "created"))
            self._held[path] = sha
        return events

    def _remove(self, path: str) -> None:
        target = self.root / path
        try:
            target.unlink()
        except OSError:
            return
        parent = target.parent  # a package the state no longer has is no namespace package either
        while parent != self.root and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
