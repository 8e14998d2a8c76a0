"""Reading user files without hanging: regular files only, bounded in size, clear errors.

A FIFO, socket or device named like a source file must never be opened for a blocking
read (``open`` on a FIFO waits for a writer forever), so every read checks the file's
type first and opens with ``O_NONBLOCK``, re-checking with ``fstat`` on the open
descriptor. OS errors become codeprm errors: a missing path is 3; a too-long name, a
symlink loop, a non-regular or too-large file is 2.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from codeprm.errors import CodeprmError, NotFoundError, UsageError

#: Files larger than this are refused ("too large"), never read.
MAX_FILE_BYTES = 16 * 1024 * 1024


def kind_of(mode: int) -> str:
    """What a stat mode names, in words (for "not a regular file" reasons)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symlink"
    return "not a regular file"


def os_error(path: str | os.PathLike[str], err: OSError) -> CodeprmError:
    """The codeprm error for an OSError met while looking at ``path``."""
    code = err.errno
    if code in (errno.ENOENT, errno.ENOTDIR):
        return NotFoundError(f"{path}: no such file")
    if code == errno.ENAMETOOLONG:
        return UsageError(f"{path}: file name too long")
    if code == errno.ELOOP:
        return UsageError(f"{path}: symlink loop")
    if code == errno.EISDIR:
        return UsageError(f"{path}: is a directory, expected a file")
    return UsageError(f"{path}: cannot read: {err.strerror or err}")


def problem(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES) -> CodeprmError | None:
    """Why ``path`` cannot be read as a source file (None when it can); never opens it."""
    try:
        st = os.stat(path)
    except OSError as err:
        return os_error(path, err)
    except ValueError:  # an embedded NUL
        return UsageError(f"{path!r}: a file name cannot contain NUL")
    return _st_problem(path, st, limit)


def _st_problem(
    path: str | os.PathLike[str], st: os.stat_result, limit: int
) -> CodeprmError | None:
    if stat.S_ISDIR(st.st_mode):
        return UsageError(f"{path}: is a directory, expected a file")
    if not stat.S_ISREG(st.st_mode):
        return UsageError(
            f"{path}: {kind_of(st.st_mode)}, not a regular file (skipped, never opened)"
        )
    if st.st_size > limit:
        return UsageError(f"{path}: too large ({st.st_size} bytes; the limit is {limit})")
    return None


def is_regular(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (following symlinks) is a regular file; never opens it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_bytes(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or a codeprm error."""
    found = problem(path, limit=limit)
    if found is not None:
        raise found
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise os_error(path, err) from err
    try:
        found = _st_problem(path, os.fstat(fd), limit)  # it may have changed since the stat
        if found is not None:
            raise found
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise UsageError(f"{path}: too large (over {limit} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as err:
        raise os_error(path, err) from err
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike[str], *, limit: int = MAX_FILE_BYTES) -> str:
    """A UTF-8 text file (a BOM is dropped); binary or non-UTF-8 content is exit 2."""
    data = read_bytes(path, limit=limit)
    return decode_source(Path(path), data)


def decode_source(path: str | os.PathLike[str], data: bytes) -> str:
    if b"\0" in data[:8192]:
        raise UsageError(f"{path}: looks like a binary file, not Python source")
    try:
        return data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(
            f"{path}: not valid UTF-8 (byte {err.start}): codeprm reads UTF-8 sources only"
        ) from err
