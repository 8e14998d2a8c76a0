"""The workspace jail: decide, before anything is written, whether a path may be written.

Every refusal is a WriteDeniedError (exit 71) whose details carry the path and a short
``reason``. A path is refused when it is empty or absolute, contains ``..``, a
backslash or NUL, names ``.git`` at any depth or codeprm's own ``.codeprm`` directory,
fails the allow/deny globs, ends in a symlink, has a non-directory as a parent, or —
after every symlink on the way is resolved — lands outside the workspace's real path.
Files that are read-only (no write bit, or not writable by this user) are refused too.

Case-insensitive file systems are found by probing (create a lower-case file in the
target directory and look for its upper-case name); a change that touches two paths
differing only in case there is refused, because both would be the same file.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from codeprm.errors import NotFoundError, UsageError, WriteDeniedError
from codeprm.workspace.globs import matches_any

#: codeprm's own directory inside a workspace (journal, probes); never a target.
STATE_DIR = ".codeprm"
#: the longest file name (one path segment) in bytes that common file systems take
NAME_MAX = 255
_DRIVE = re.compile(r"^[A-Za-z]:")


def denied(path: str, reason: str, message: str, **extra: object) -> WriteDeniedError:
    return WriteDeniedError(
        f"refusing to write {path!r}: {message}", details={"path": path, "reason": reason, **extra}
    )


@dataclass(frozen=True, slots=True)
class Jail:
    """The writable part of one workspace: its real root plus allow/deny globs."""

    root: Path
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    @classmethod
    def at(
        cls, root: str | os.PathLike[str], allow: Iterable[str] = (), deny: Iterable[str] = ()
    ) -> Jail:
        real = Path(os.path.realpath(os.fspath(root)))
        if not real.is_dir():
            raise NotFoundError(
                f"workspace {os.fspath(root)!r} is not a directory",
                details={"root": os.fspath(root)},
            )
        return cls(real, tuple(allow), tuple(deny))

    def normalise(self, path: str) -> str:
        """The canonical relative form of ``path``, or WriteDeniedError if it can never be
        written."""
        if not isinstance(path, str) or not path:
            raise denied(str(path), "empty", "empty path")
        if "\x00" in path:
            raise denied(path, "invalid", "NUL character in path")
        if path.startswith(("/", "\\")) or _DRIVE.match(path):
            raise denied(path, "absolute", "absolute paths are outside the workspace jail")
        if "\\" in path:
            raise denied(path, "backslash", "backslashes are not allowed in workspace paths")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise denied(path, "parent", "'..' is not allowed in workspace paths")
        if not parts:
            raise denied(path, "root", "the workspace root itself is not a file")
        self._check_reserved(path, parts)
        if any(len(p.encode("utf-8", "surrogatepass")) > NAME_MAX for p in parts):
            raise UsageError(f"{path[:80]}...: file name too long (over {NAME_MAX} bytes)")
        rel = "/".join(parts)
        if self.allow and matches_any(rel, self.allow) is None:
            raise denied(path, "not-allowed", "matches no allow glob", allow=list(self.allow))
        hit = matches_any(rel, self.deny)
        if hit is not None:
            raise denied(path, "denied", f"matches deny glob {hit!r}", glob=hit)
        return rel

    @staticmethod
    def _check_reserved(path: str, parts: list[str]) -> None:
        if any(p.casefold() == ".git" for p in parts):
            raise denied(path, "git-dir", "files inside .git are never written")
        if parts[0].casefold() == STATE_DIR:
            raise denied(path, "state-dir", f"{STATE_DIR}/ belongs to codeprm")

    def resolve(self, path: str) -> Path:
        """The real absolute path ``path`` writes to; WriteDeniedError unless it is inside the
        jail."""
        rel = self.normalise(path)
        lexical = self.root / rel
        try:
            return self._resolve(path, lexical)
        except OSError as err:  # a too-long path, a component that is not a directory ...
            from codeprm.safeio import os_error

            raise os_error(rel, err) from err

    def _resolve(self, path: str, lexical: Path) -> Path:
        if lexical.is_symlink():
            raise denied(path, "symlink", "it is a symlink; edit the file it points to instead")
        real = Path(os.path.realpath(lexical))
        if real == self.root or self.root not in real.parents:
            raise denied(
                path,
                "outside",
                f"it resolves to {str(real)!r}, outside the workspace {str(self.root)!r}",
            )
        self._check_reserved(path, list(real.relative_to(self.root).parts))
        for parent in real.parents:
            if parent == self.root:
                break
            if parent.exists() and not parent.is_dir():
                raise denied(path, "not-a-directory", f"{str(parent)!r} is not a directory")
        return real

    def resolve_all(self, paths: Iterable[str]) -> dict[str, Path]:
        """``resolve`` for each path, refusing two paths that are the same file."""
        result: dict[str, Path] = {}
        by_real: dict[Path, str] = {}
        for path in paths:
            real = self.resolve(path)
            other = by_real.get(real)
            if other is not None and other != path:
                raise denied(path, "alias", f"it is the same file as {other!r}")
            by_real[real] = path
            result[path] = real
        return result


def check_writable(path: str, real: Path, *, creating: bool) -> None:
    """Refuse a read-only file (or, for a create/delete, a read-only directory)."""
    try:
        st = real.lstat()
    except FileNotFoundError:
        st = None
    if (
        st is not None
        and stat.S_ISREG(st.st_mode)
        and (not st.st_mode & 0o222 or not os.access(real, os.W_OK))
    ):
        raise denied(path, "read-only", "the file is read-only", mode=oct(stat.S_IMODE(st.st_mode)))
    if creating or st is None:
        parent = _nearest_existing(real.parent)
        if not os.access(parent, os.W_OK | os.X_OK):
            raise denied(path, "read-only", f"directory {str(parent)!r} is not writable")


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def probe_case_sensitive(directory: Path) -> bool:
    """Whether ``directory``'s file system tells ``a`` from ``A`` (probes with a temporary file)."""
    directory = _nearest_existing(directory)
    fd, name = tempfile.mkstemp(prefix=".codeprm-case-probe-", suffix=".tmp", dir=directory)
    try:
        os.close(fd)
        probe = Path(name)
        return not (probe.parent / probe.name.upper()).exists()
    finally:
        os.unlink(name)


def check_case_collisions(
    targets: dict[str, Path],
    *,
    case_sensitive: Callable[[Path], bool] | None = None,
) -> None:
    """Refuse two paths of one change that differ only in case on a case-insensitive FS.

    The probe runs only when such a pair exists, so ordinary changes write nothing here.
    """
    groups: dict[str, list[str]] = {}
    for path in targets:
        groups.setdefault(path.casefold(), []).append(path)
    for paths in groups.values():
        if len(paths) < 2:
            continue
        probe = case_sensitive or probe_case_sensitive
        if not probe(targets[paths[0]].parent):
            raise denied(
                paths[1],
                "case-only-rename",
                f"it differs from {paths[0]!r} only in case and the file system is "
                "case-insensitive",
                paths=sorted(paths),
            )
