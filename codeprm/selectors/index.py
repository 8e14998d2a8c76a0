"""WorkspaceIndex: every Python file of a workspace, parsed once per content hash.

The only IO of ``codeprm.selectors``. ``WorkspaceIndex(root)`` walks the workspace
(by ``codeprm.pyfiles``, the rules ``codeprm.analysis.files`` walks by too), reads each
``.py``/``.pyi`` file, and parses it with tree-sitter into an
``Outline``. ``refresh()`` re-walks: files whose (mtime, size, inode) did not change are
not even read, files whose sha256 did not change are not re-parsed, and outlines are
cached by content hash, so a renamed or reverted file is not parsed again either.
``parse_count`` counts tree-sitter parses so tests can hold it to that.

``WorkspaceIndex(root, scan=False)`` walks nothing up front: a module's files are found
from its name (``modules.module_paths``) and parsed on first use, and the whole tree is
walked only when something needs every file (``paths()``, relocation by name). One-shot
callers (``codeprm locate``) use it so that an exact selector costs one parse.

Previous texts of changed files are kept (``history_depth`` per path) so that selectors
carrying an older docVersion can be relocated; ``remember()`` adds one explicitly (e.g.
from git). ``WorkspaceIndex.from_texts`` builds an index without touching the disk.
Files that are not indexed (other suffixes) are read on demand, inside the root only.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import tree_sitter

from codeprm import pyfiles
from codeprm.selectors.fingerprint import assign_symbol_ids, module_symbol_id
from codeprm.selectors.modules import (
    DEFAULT_SOURCE_ROOTS,
    is_python_path,
    module_name,
    module_paths,
)
from codeprm.selectors.outline import Definition, Outline, Span, new_parser, outline_of
from codeprm.selectors.position_encoding import LineTable
from codeprm.selectors.spec import check_path
from codeprm.types import Position, Range


class TextArchive(Protocol):
    """Earlier texts kept outside the index (``codeprm.workspace.textstore.TextStore``)."""

    def lookup(self, version: str, path: str | None = None) -> list[tuple[str, str, str]]:
        """``(path, sha256, text)`` of kept texts whose hash starts with ``version``."""
        ...


SKIP_DIRS = pyfiles.SKIP_DIRS
MAX_FILE_BYTES = 16 * 1024 * 1024


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def doc_version(text: str, length: int = 12) -> str:
    """The docVersion of ``text`` for a selector: a sha256 hex prefix (8..64 digits)."""
    if not 8 <= length <= 64:
        raise ValueError("a docVersion has 8 to 64 hex digits")
    return sha256_text(text)[:length]


@dataclass(frozen=True, slots=True)
class IndexedFile:
    """One file as indexed: text, line table, outline (None for non-Python) and symbol ids."""

    path: str
    module: str | None
    sha256: str
    text: str
    lines: LineTable
    outline: Outline | None
    symbol_ids: tuple[str, ...]
    by_qualname: Mapping[str, tuple[int, ...]]

    @property
    def definitions(self) -> tuple[Definition, ...]:
        return self.outline.definitions if self.outline is not None else ()

    @property
    def id_module(self) -> str:
        """The module part of symbol ids: the module name, else ``file:<path>``."""
        return self.module if self.module is not None else f"file:{self.path}"

    @property
    def module_symbol_id(self) -> str:
        return module_symbol_id(self.id_module)

    def named(self, qualname: str) -> tuple[int, ...]:
        """Indexes into ``definitions`` of the definitions named ``qualname``, in source order."""
        return self.by_qualname.get(qualname, ())

    def position(self, byte_offset: int) -> Position:
        return self.lines.byte_to_position(byte_offset)

    def range_of(self, span: Span) -> Range:
        return Range(self.position(span[0]), self.position(span[1]))

    def whole_range(self) -> Range:
        return Range(Position(0, 0), self.lines.end_position())


def _decode(data: bytes) -> tuple[str, str, bytes | None]:
    """(text, sha256 of the bytes, the bytes when they are exactly the text's UTF-8)."""
    sha = hashlib.sha256(data).hexdigest()
    try:
        return data.decode("utf-8"), sha, data
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), sha, None


@dataclass(frozen=True, slots=True)
class RefreshStats:
    files: int
    read: int
    parsed: int
    removed: int


def _make_file(
    path: str, module: str | None, sha: str, text: str, outline: Outline | None
) -> IndexedFile:
    by_qualname: dict[str, list[int]] = {}
    ids: tuple[str, ...] = ()
    if outline is not None:
        for i, d in enumerate(outline.definitions):
            by_qualname.setdefault(d.qualname, []).append(i)
        id_module = module if module is not None else f"file:{path}"
        ids = assign_symbol_ids(
            id_module, ((d.qualname, d.kind, d.shape, d.role_tag) for d in outline.definitions)
        )
    return IndexedFile(
        path,
        module,
        sha,
        text,
        LineTable(text),
        outline,
        ids,
        {k: tuple(v) for k, v in by_qualname.items()},
    )


class WorkspaceIndex:
    """Python files of one workspace, keyed by workspace-relative POSIX path."""

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        source_roots: Sequence[str] = DEFAULT_SOURCE_ROOTS,
        history_depth: int = 8,
        scan: bool = True,
        archive: TextArchive | None = None,
    ) -> None:
        self._root = Path(root).resolve() if root is not None else None
        self._source_roots = tuple(source_roots)
        self._history_depth = history_depth
        self._files: dict[str, IndexedFile] = {}
        self._stats: dict[str, tuple[int, int, int]] = {}
        self._extra: dict[str, tuple[tuple[int, int, int] | None, IndexedFile]] = {}
        self._outlines: dict[str, Outline] = {}
        self._history: dict[str, list[tuple[str, str]]] = {}
        self._modules: dict[str, list[str]] = {}
        self._by_name: dict[str, list[tuple[str, int]]] | None = None
        self._parser: tree_sitter.Parser | None = None
        self._parses = 0
        self._scanned = False
        #: earlier texts kept across processes; consulted by ``versions()`` after the history
        self.archive = archive
        self.generation = 0
        if self._root is not None:
            if not self._root.is_dir():
                from codeprm.errors import NotFoundError

                raise NotFoundError(f"workspace {self._root} is not a directory")
            if scan:
                _ = self.refresh()

    @classmethod
    def from_texts(
        cls, files: Mapping[str, str], *, source_roots: Sequence[str] = DEFAULT_SOURCE_ROOTS
    ) -> WorkspaceIndex:
        """An index over in-memory texts (workspace-relative POSIX path -> text); no IO."""
        index = cls(None, source_roots=source_roots)
        for path in sorted(files):
            index.set_text(path, files[path])
        return index

    # -- properties ---------------------------------------------------------------

    @property
    def root(self) -> Path | None:
        return self._root

    @property
    def parse_count(self) -> int:
        """How many times tree-sitter parsed a text for this index."""
        return self._parses

    def module_of(self, path: str) -> str | None:
        """The module name ``path`` has (or would have) in this index."""
        return module_name(path, self._source_roots)

    def _ensure_scanned(self) -> None:
        if self._root is not None and not self._scanned:
            _ = self.refresh()

    def paths(self) -> tuple[str, ...]:
        """Indexed Python files, sorted (walks the workspace first if it was not yet)."""
        self._ensure_scanned()
        return tuple(sorted(self._files))

    def __len__(self) -> int:
        self._ensure_scanned()
        return len(self._files)

    def get(self, path: str) -> IndexedFile | None:
        """The indexed Python file at ``path``, if any (read on first use when not scanned)."""
        hit = self._files.get(path)
        if hit is None and self._root is not None and not self._scanned:
            hit = self._load(path)
        return hit

    def files_for_module(self, module: str) -> tuple[IndexedFile, ...]:
        """Every indexed file whose module name is ``module`` (several when they clash)."""
        if self._root is not None and not self._scanned:
            for path in module_paths(module, self._source_roots):
                if path not in self._files:
                    _ = self._load(path)
        return tuple(self._files[p] for p in sorted(self._modules.get(module, ())))

    def modules(self) -> tuple[str, ...]:
        self._ensure_scanned()
        return tuple(sorted(self._modules))

    def definitions_named(self, name: str) -> list[tuple[IndexedFile, int]]:
        """Every definition whose own (last) name is ``name``, across the workspace."""
        self._ensure_scanned()
        if self._by_name is None:
            by_name: dict[str, list[tuple[str, int]]] = {}
            for path in sorted(self._files):
                for i, d in enumerate(self._files[path].definitions):
                    by_name.setdefault(d.name, []).append((path, i))
            self._by_name = by_name
        return [(self._files[p], i) for p, i in self._by_name.get(name, ())]

    # -- files by path, indexed or not ---------------------------------------------

    def _indexable(self, path: str) -> bool:
        """Whether the walk would index ``path`` (a Python file outside skipped directories)."""
        return is_python_path(path) and pyfiles.is_source_path(path)

    def _load(self, path: str) -> IndexedFile | None:
        """Read and index one indexable Python file from disk (lazy mode)."""
        if self._root is None or not self._indexable(path):
            return None
        try:
            check_path(path)
            full = self._root / path
            if not full.resolve().is_relative_to(self._root):
                return None
            st = full.lstat()
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                return None
            data = full.read_bytes()
        except (OSError, RuntimeError, ValueError):
            return None
        self._stats[path] = (st.st_mtime_ns, st.st_size, st.st_ino)
        self._install(path, *_decode(data))
        return self._files.get(path)

    def file(self, path: str) -> IndexedFile | None:
        """The file at workspace-relative ``path``: indexed, or read on demand.

        Python files the walk would index are parsed; any other file inside the root is read
        as text only (no outline, no module).
        """
        hit = self.get(path)
        if hit is not None:
            return hit
        extra = self._extra.get(path)
        if self._root is None:
            return extra[1] if extra is not None else None
        try:
            check_path(path)
        except ValueError:
            return None
        full = self._root / path
        try:
            if not full.resolve().is_relative_to(self._root):
                return None
            st = full.stat()
        except (OSError, RuntimeError):
            return extra[1] if extra is not None and extra[0] is None else None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if extra is not None and extra[0] in (key, None):
            return extra[1]
        if not full.is_file() or st.st_size > MAX_FILE_BYTES:
            return None
        try:
            data = full.read_bytes()
        except OSError:
            return None
        entry = _make_file(
            path, None, hashlib.sha256(data).hexdigest(), data.decode("utf-8", "replace"), None
        )
        self._extra[path] = (key, entry)
        return entry

    def text(self, path: str) -> str | None:
        entry = self.file(path)
        return entry.text if entry is not None else None

    # -- updates ------------------------------------------------------------------------

    def _parse(self, sha: str, text: str, source: bytes | None = None) -> Outline:
        outline = self._outlines.get(sha)
        if outline is None:
            if self._parser is None:
                self._parser = new_parser()
            if source is None:
                source = text.encode("utf-8", "surrogatepass")
            outline = outline_of(source, self._parser)
            self._parses += 1
            self._outlines[sha] = outline
        return outline

    def outline_for_text(self, text: str) -> Outline:
        """The outline of any Python text (cached by content hash; counts as a parse)."""
        return self._parse(sha256_text(text), text)

    def _push_history(self, path: str, sha: str, text: str) -> None:
        versions = [v for v in self._history.get(path, []) if v[0] != sha]
        versions.append((sha, text))
        self._history[path] = versions[-self._history_depth :] if self._history_depth else []

    def _install(self, path: str, text: str, sha: str, source: bytes | None = None) -> None:
        """Index ``text`` at ``path``; ``source`` is its exact UTF-8 encoding when known."""
        old = self._files.get(path)
        if old is not None and old.sha256 == sha:
            return
        if old is not None:
            self._push_history(path, old.sha256, old.text)
        else:
            module = module_name(path, self._source_roots)
            if module is not None:
                self._modules.setdefault(module, []).append(path)
        module = module_name(path, self._source_roots)
        self._files[path] = _make_file(path, module, sha, text, self._parse(sha, text, source))
        self._by_name = None
        self.generation += 1

    def _drop(self, path: str) -> None:
        old = self._files.pop(path, None)
        self._stats.pop(path, None)
        if old is None:
            return
        self._push_history(path, old.sha256, old.text)
        if old.module is not None:
            paths = self._modules.get(old.module, [])
            if path in paths:
                paths.remove(path)
            if not paths:
                self._modules.pop(old.module, None)
        self._by_name = None
        self.generation += 1

    def set_text(self, path: str, text: str) -> None:
        """Set the text of ``path`` in memory (an edit not yet on disk, or a test file).

        A ``refresh()`` of a disk-backed index later re-reads the file from disk.
        """
        check_path(path)
        sha = sha256_text(text)
        if is_python_path(path):
            self._stats.pop(path, None)
            self._install(path, text, sha)
        else:
            old = self._extra.get(path)
            if old is not None and old[1].sha256 != sha:
                self._push_history(path, old[1].sha256, old[1].text)
            self._extra[path] = (None, _make_file(path, None, sha, text, None))
        self._prune_outlines()

    def remove(self, path: str) -> None:
        """Forget ``path`` (its last text stays in the history)."""
        self._drop(path)
        self._extra.pop(path, None)
        self._prune_outlines()

    def remember(self, path: str, text: str) -> None:
        """Record ``text`` as an earlier version of ``path`` (for docVersion relocation)."""
        check_path(path)
        current = self.file(path)
        sha = sha256_text(text)
        if current is None or current.sha256 != sha:
            self._push_history(path, sha, text)

    def versions(self, version: str, path: str | None = None) -> list[tuple[str, str, str]]:
        """``(path, sha256, text)`` of current and remembered texts whose hash starts with
        ``version``."""
        out: list[tuple[str, str, str]] = []
        for p, entry in sorted(self._files.items()):
            if (path is None or p == path) and entry.sha256.startswith(version):
                out.append((p, entry.sha256, entry.text))
        for p, versions in sorted(self._history.items()):
            if path is None or p == path:
                out.extend((p, sha, text) for sha, text in versions if sha.startswith(version))
        if self.archive is not None:
            seen = {(p, sha) for p, sha, _ in out}
            for p, sha, text in self.archive.lookup(version, path):
                if (p, sha) not in seen and self._archived_path_ok(p):
                    seen.add((p, sha))
                    out.append((p, sha, text))
        return out

    def _archived_path_ok(self, path: str) -> bool:
        try:
            check_path(path)
        except ValueError:
            return False
        return True

    def _prune_outlines(self) -> None:
        keep = {f.sha256 for f in self._files.values()}
        keep.update(sha for versions in self._history.values() for sha, _ in versions)
        if len(self._outlines) > len(keep):
            self._outlines = {k: v for k, v in self._outlines.items() if k in keep}

    def _walk(self) -> Iterator[tuple[str, os.stat_result]]:
        assert self._root is not None
        stack = [(str(self._root), "")]
        while stack:
            directory, prefix = stack.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for e in entries:
                try:
                    if e.is_dir(follow_symlinks=False):
                        if pyfiles.walks_dir(e.name):
                            stack.append((e.path, prefix + e.name + "/"))
                    elif pyfiles.is_source_name(e.name) and e.is_file(follow_symlinks=False):
                        yield prefix + e.name, e.stat(follow_symlinks=False)
                except OSError:
                    continue

    def refresh(self) -> RefreshStats:
        """Re-walk the workspace; read only files whose stat changed, parse only new hashes."""
        if self._root is None:
            return RefreshStats(len(self._files), 0, 0, 0)
        parses_before = self._parses
        self._scanned = True
        seen: set[str] = set()
        read = 0
        for path, st in self._walk():
            seen.add(path)
            key = (st.st_mtime_ns, st.st_size, st.st_ino)
            if path in self._files and self._stats.get(path) == key:
                continue
            if st.st_size > MAX_FILE_BYTES:
                continue
            try:
                data = (self._root / path).read_bytes()
            except OSError:
                continue
            read += 1
            self._stats[path] = key
            self._install(path, *_decode(data))
        removed = [p for p in self._files if p not in seen]
        for path in removed:
            self._drop(path)
        self._prune_outlines()
        return RefreshStats(len(self._files), read, self._parses - parses_before, len(removed))

    def reload(self, path: str) -> bool:
        """Re-read one file from disk after a known edit; False if it is gone (then dropped)."""
        if self._root is None:
            raise ValueError("reload needs a disk-backed index")
        check_path(path)
        full = self._root / path
        try:
            st = full.stat()
            data = full.read_bytes()
        except OSError:
            self.remove(path)
            return False
        if is_python_path(path):
            self._stats[path] = (st.st_mtime_ns, st.st_size, st.st_ino)
            self._install(path, *_decode(data))
            self._prune_outlines()
        else:
            self._extra.pop(path, None)
        return True
