"""codeprm's private directories, opened without ever following a symlink, and its per-user key.

A workspace is untrusted: a cloned repository can ship its own ``.codeprm/`` with a
symlink where a directory should be. Every directory codeprm writes in is therefore
opened one component at a time from a verified directory handle with
``O_NOFOLLOW | O_DIRECTORY`` (``open_dir_at``, ``walk_dirs``), and files are created
relative to those handles (``dir_fd``), so that a directory swapped for a symlink can
never redirect a write outside. ``open_state_dir`` opens (or creates, mode 0700)
``<root>/.codeprm``; a symlink or non-directory there is ``UntrustedStateError``.

The journal key (``journal_key``) is 32 random bytes kept outside every workspace, in
``$CODEPRM_STATE_HOME`` or ``$XDG_STATE_HOME/codeprm`` or ``~/.local/state/codeprm``
(directory 0700, file ``journal.key`` 0600, created with ``O_EXCL`` semantics by
linking a finished temp file): it signs what codeprm writes in a journal, so that a
journal codeprm did not write is never acted on.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from codeprm.errors import WriteDeniedError
from codeprm.workspace.jail import STATE_DIR

STATE_HOME_ENV = "CODEPRM_STATE_HOME"
KEY_FILE = "journal.key"
KEY_BYTES = 32
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_keys: dict[str, bytes] = {}


class UntrustedStateError(WriteDeniedError):
    """A private path that is a symlink or not a directory (exit 71, like every write denial)."""


def _refuse(where: str, why: str) -> UntrustedStateError:
    return UntrustedStateError(
        f"refusing to use {where}: it is {why}, and codeprm never follows a link there "
        "(remove it and rerun)",
        details={"path": where, "reason": "untrusted-state"},
    )


def open_root(root: Path) -> int:
    """A directory handle on the (already resolved) workspace root."""
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def open_dir_at(
    dir_fd: int, name: str, *, create: bool = False, mode: int = 0o777, where: str | None = None
) -> int | None:
    """Open the directory ``name`` inside ``dir_fd`` without following a symlink.

    Returns None when it is absent and ``create`` is false; a symlink or a non-directory
    raises UntrustedStateError naming ``where`` (default ``name``).
    """
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        raise _refuse(where or name, "not a single path component")
    for _ in range(2):
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            if not create:
                return None
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, mode, dir_fd=dir_fd)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                kind = "a symbolic link" if _is_link(dir_fd, name) else "not a directory"
                raise _refuse(where or name, kind) from err
            raise
    raise _refuse(where or name, "vanishing as it is created")


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def walk_dirs(
    root_fd: int, parts: Sequence[str], *, create: bool = False, where: str | None = None
) -> int | None:
    """Open ``root/parts[0]/parts[1]/...`` component by component, never following a symlink.

    Returns a new handle (the caller closes it), or None when a component is absent and
    ``create`` is false. ``parts == []`` gives a duplicate of ``root_fd``.
    """
    fd = os.dup(root_fd)
    try:
        for i, part in enumerate(parts):
            label = where or "/".join(parts[: i + 1])
            nxt = open_dir_at(fd, part, create=create, where=label)
            os.close(fd)
            fd = -1
            if nxt is None:
                return None
            fd = nxt
        out, fd = fd, -1
        return out
    finally:
        if fd >= 0:
            os.close(fd)


def same_dir(fd_a: int, fd_b: int) -> bool:
    """Whether two handles are the same directory (device and inode)."""
    a, b = os.fstat(fd_a), os.fstat(fd_b)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def open_state_dir(root_fd: int, root: Path, *, create: bool) -> int | None:
    """``<root>/.codeprm`` as a handle (created 0700 with a ``*`` .gitignore when asked)."""
    where = str(root / STATE_DIR)
    fd = open_dir_at(root_fd, STATE_DIR, create=False, where=where)
    if fd is not None or not create:
        return fd
    with contextlib.suppress(FileExistsError):
        os.mkdir(STATE_DIR, 0o700, dir_fd=root_fd)
    fd = open_dir_at(root_fd, STATE_DIR, create=False, where=where)
    if fd is None:
        raise _refuse(where, "vanishing as it is created")
    with contextlib.suppress(FileExistsError):
        gi = os.open(
            ".gitignore",
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=fd,
        )
        try:
            os.write(gi, b"# codeprm's journal and probes; never commit them\n*\n")
        finally:
            os.close(gi)
    os.fsync(root_fd)
    return fd


@contextlib.contextmanager
def closing_fd(fd: int | None) -> Iterator[int | None]:
    """Close ``fd`` (if any) on exit."""
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


# -- the per-user key ----------------------------------------------------------------------


def key_dir() -> Path:
    """Where the journal key lives (see the module docstring); never inside a workspace."""
    override = os.environ.get(STATE_HOME_ENV)
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "codeprm"
    try:
        home = Path.home()
    except RuntimeError as err:
        raise WriteDeniedError(
            f"no home directory for the journal key; set {STATE_HOME_ENV}",
            details={"reason": "journal-key"},
        ) from err
    return home / ".local" / "state" / "codeprm"


def _key_error(path: Path, why: str) -> WriteDeniedError:
    return WriteDeniedError(
        f"the journal key {path} {why}", details={"path": str(path), "reason": "journal-key"}
    )


def _read_key(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _key_error(path, f"cannot be read: {err.strerror}") from err
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _key_error(path, "is not a regular file")
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise _key_error(path, "is not private (it must be yours, mode 0600)")
        data = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) != KEY_BYTES:
        raise _key_error(path, f"does not hold {KEY_BYTES} bytes")
    return data


def _create_key(directory: Path, path: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(directory)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
            raise _key_error(path, "has a parent directory that is not yours")
        if st.st_mode & 0o077:
            os.chmod(directory, 0o700)
        tmp = directory / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        try:
            try:
                os.write(fd, secrets.token_bytes(KEY_BYTES))
                os.fsync(fd)
            finally:
                os.close(fd)
            with contextlib.suppress(FileExistsError):  # another process won the race: use its key
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError as err:
        raise _key_error(path, f"cannot be created: {err.strerror or err}") from err


def journal_key(*, create: bool) -> bytes | None:
    """This user's journal key; None when there is none yet and ``create`` is false."""
    directory = key_dir()
    path = directory / KEY_FILE
    cached = _keys.get(str(path))
    if cached is not None:
        return cached
    key = _read_key(path)
    if key is None and create:
        _create_key(directory, path)
        key = _read_key(path)
    if key is not None:
        _keys[str(path)] = key
    return key


def sign(key: bytes, purpose: str, data: bytes) -> str:
    """HMAC-SHA256 of ``data`` for one ``purpose`` (domain-separated), as hex."""
    return hmac.new(key, purpose.encode() + b"\x00" + data, hashlib.sha256).hexdigest()


def verify(key: bytes, purpose: str, data: bytes, mac: object) -> bool:
    """Whether ``mac`` is ``sign(key, purpose, data)`` (constant time)."""
    return isinstance(mac, str) and hmac.compare_digest(
        sign(key, purpose, data).encode("utf-8", "surrogatepass"),
        mac.encode("utf-8", "surrogatepass"),
    )
