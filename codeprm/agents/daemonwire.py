"""How a client finds, trusts and talks to a workspace's daemon (standard library only).

The daemon's socket lives in a private directory of the user (``$XDG_RUNTIME_DIR/codeprm``
when that is usable, else ``<tempdir>/codeprm-<uid>``), created 0700 and checked for
owner and mode every time. ``<workspace>/.codeprm/daemon.json`` records the pid, the
socket and a secret; a client trusts it only when it is a regular file (never followed
through a symlink), owned by the current user, not group/world-writable, names a socket
inside the private directory, and the daemon answering there proves it knows the secret
(HMAC-SHA256 of a fresh challenge). The daemon proves nothing less of the client (it
answers the daemon's challenge too) and checks the peer's uid with SO_PEERCRED.

Wire format (both directions): a 4-byte big-endian length, then a JSON object.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import struct
from _operator import _compare_digest as compare_digest  # what hmac.compare_digest falls back to
from pathlib import Path

# What a client imports costs every call it hands to the daemon: typing (annotations
# only), secrets (os.urandom is its source) and tempfile (only without a usable
# XDG_RUNTIME_DIR) are left out of it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
# Nor OpenSSL (hashlib, hmac): SHA-256 and HMAC-SHA256 come from the interpreter's own
# module where it has one (``proof`` is HMAC as RFC 2104 defines it, what hmac.new gives).
try:
    from _sha256 import sha256 as _sha256  # Python 3.11
except ImportError:  # pragma: no cover - other versions and builds
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[no-redef]  # Python 3.12+
    except ImportError:
        from hashlib import sha256 as _sha256  # type: ignore[assignment]

_BLOCK = 64  # SHA-256's block size
_OPAD = bytes(x ^ 0x5C for x in range(256))
_IPAD = bytes(x ^ 0x36 for x in range(256))

STATE_FILE = Path(".codeprm") / "daemon.json"
PROTOCOL = "codeprm-daemon/2"
#: the largest message either side accepts (a request carries a diff or stdin)
MAX_MESSAGE = 256 << 20


class Untrusted(Exception):
    """daemon.json or the daemon behind it failed a check; the command must run in-process."""


class NoDaemon(Exception):
    """No daemon is recorded or none answers (a stale record): run in-process, silently."""


def send(sock: socket.socket, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode("utf-8")
    sock.sendall(struct.pack(">I", len(data)) + data)


def receive(sock: socket.socket) -> dict[str, Any] | None:
    head = _exactly(sock, 4)
    if head is None:
        return None
    size = struct.unpack(">I", head)[0]
    if size > MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes is over the limit")
    body = _exactly(sock, size)
    if body is None:
        return None
    value = json.loads(body)
    if not isinstance(value, dict):
        raise ValueError("message is not a JSON object")
    return value


def _exactly(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(1 << 20, n - got))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# -- the private directory -------------------------------------------------------------------


def _private_ok(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o077 == 0


def private_dir(create: bool = False, temp: str | None = None) -> Path:
    """The user's private directory for daemon sockets; Untrusted when it is not private.

    Without ``create``, NoDaemon when it does not exist. ``temp``: the temporary directory
    to use instead of ``tempfile.gettempdir()`` (see ``_first_temp_candidate``).
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and _private_ok(Path(runtime)):
        base = Path(runtime) / "codeprm"
    else:
        if temp is None:
            import tempfile

            temp = tempfile.gettempdir()
        base = Path(temp) / f"codeprm-{os.getuid()}"
    if create:
        try:
            os.mkdir(base, 0o700)
        except FileExistsError:
            pass
        except OSError as err:
            raise Untrusted(
                f"cannot create the private directory {base}: {err.strerror or err}"
            ) from err
    if not create and not os.path.lexists(base):
        raise NoDaemon  # no daemon of ours can listen there (a temp dir cleaned since)
    if not _private_ok(base):
        raise Untrusted(f"{base} is not a directory owned by uid {os.getuid()} with mode 0700")
    return base


def socket_path(root: Path, create: bool = False, temp: str | None = None) -> Path:
    digest = _sha256(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return private_dir(create, temp) / f"{digest}.sock"


def _first_temp_candidate() -> str:
    """The directory ``tempfile.gettempdir()`` tries first (TMPDIR, TEMP, TMP, then /tmp).

    gettempdir() takes the first candidate it can write a file in: asking it costs the
    tempfile import and a file written and removed. A record whose socket lies in the
    first candidate's private directory is checked against that directly.
    """
    for name in ("TMPDIR", "TEMP", "TMP"):
        value = os.environ.get(name)
        if value:
            return os.path.abspath(value)
    return "/tmp"


# -- daemon.json -----------------------------------------------------------------------------


def read_state(root: Path) -> dict[str, Any]:
    """The verified record of root's daemon. NoDaemon when there is none, Untrusted when it fails a
    check."""
    state_dir = root / STATE_FILE.parent
    try:
        dst = os.lstat(state_dir)
    except FileNotFoundError as err:
        raise NoDaemon from err
    except OSError as err:
        raise Untrusted(f"{state_dir}: {err.strerror or err}") from err
    if not stat.S_ISDIR(dst.st_mode):
        raise Untrusted(f"{state_dir} is not a directory (a symlink?)")
    path = root / STATE_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError as err:
        raise NoDaemon from err
    except OSError as err:
        raise Untrusted(
            f"{path}: cannot open it without following links: {err.strerror or err}"
        ) from err
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Untrusted(f"{path} is not a regular file")
        if st.st_uid != os.getuid():
            raise Untrusted(f"{path} is owned by uid {st.st_uid}, not {os.getuid()}")
        if st.st_mode & 0o022:
            raise Untrusted(f"{path} is writable by others (mode {stat.S_IMODE(st.st_mode):04o})")
        data = os.read(fd, 1 << 16)
    finally:
        os.close(fd)
    try:
        state = json.loads(data)
        sock, secret, pid = state["socket"], state["secret"], state["pid"]
    except (ValueError, KeyError, TypeError) as err:
        raise Untrusted(f"{path} is not a daemon record") from err
    if (
        not isinstance(sock, str)
        or not isinstance(secret, str)
        or len(secret) < 32
        or not isinstance(pid, int)
    ):
        raise Untrusted(f"{path} is not a daemon record")
    try:  # the usual case first: the private directory in the first temp candidate
        if Path(sock) == socket_path(root, temp=_first_temp_candidate()):
            return state
    except (NoDaemon, Untrusted):
        pass
    expected = socket_path(root)
    if Path(sock) != expected:
        raise Untrusted(f"{path} names the socket {sock}, not {expected} in the private directory")
    return state


def write_state(root: Path, state: dict[str, Any]) -> None:
    """Write daemon.json 0600 without following any symlink (the directory or the file)."""
    dir_fd = open_state_dir(root)
    tmp = f"daemon.json.{os.getpid()}.tmp"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        fd = os.open(
            tmp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=dir_fd,
        )
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, json.dumps(state).encode("utf-8"))
        finally:
            os.close(fd)
        os.replace(
            tmp, "daemon.json", src_dir_fd=dir_fd, dst_dir_fd=dir_fd
        )  # replaces a symlink, never follows it
    finally:
        os.close(dir_fd)


def open_state_dir(root: Path) -> int:
    """A descriptor of ``root/.codeprm`` (created 0700 if absent); refuses a symlink."""
    path = root / STATE_FILE.parent
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise Untrusted(f"{path} is not a directory (a symlink?): {err.strerror or err}") from err
    if os.fstat(fd).st_uid != os.getuid():
        os.close(fd)
        raise Untrusted(f"{path} is not owned by uid {os.getuid()}")
    return fd


# -- the handshake ---------------------------------------------------------------------------


def proof(secret: str, role: str, challenge: str) -> str:
    return hmac_sha256(secret.encode(), f"{PROTOCOL}|{role}|{challenge}".encode())


def hmac_sha256(key: bytes, message: bytes) -> str:
    """``hmac.new(key, message, hashlib.sha256).hexdigest()`` (RFC 2104)."""
    if len(key) > _BLOCK:
        key = _sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = _sha256(key.translate(_IPAD) + message).digest()
    return _sha256(key.translate(_OPAD) + inner).hexdigest()


def connect(state: dict[str, Any], timeout: float = 5.0) -> tuple[socket.socket, str]:
    """A socket to the daemon of ``state`` after its proof of the secret, and the client's proof to
    send.

    NoDaemon when nothing listens; Untrusted when something answers without the secret.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(state["socket"])
        except (FileNotFoundError, ConnectionRefusedError) as err:
            raise NoDaemon from err
        _check_peer(sock)
        challenge = os.urandom(32).hex()  # secrets.token_hex(32)
        send(sock, {"hello": PROTOCOL, "challenge": challenge})
        reply = receive(sock)
        if reply is None:
            raise Untrusted("the daemon hung up during the handshake")
        answer = reply.get("proof")
        if not isinstance(answer, str) or not compare_digest(
            answer.encode("utf-8", "surrogatepass"),
            proof(state["secret"], "daemon", challenge).encode(),
        ):
            raise Untrusted(
                f"the process behind {state['socket']} does not know the daemon's secret"
            )
        theirs = reply.get("challenge")
        if not isinstance(theirs, str):
            raise Untrusted("the daemon sent no challenge")
        sock.settimeout(None)
        return sock, proof(state["secret"], "client", theirs)
    except (OSError, ValueError) as err:
        sock.close()
        raise NoDaemon from err
    except BaseException:
        sock.close()
        raise


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a unix socket (Linux SO_PEERCRED), or None."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    _pid, uid, _gid = struct.unpack(
        "3i", sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    )
    return uid


def _check_peer(sock: socket.socket) -> None:
    uid = peer_uid(sock)
    if uid is not None and uid != os.getuid():
        raise Untrusted(f"the daemon socket is served by uid {uid}, not {os.getuid()}")


# -- time ------------------------------------------------------------------------------------


#: a request may take this many times its --timeout (the per-server-request limit) in all
def traced(argv: list[str]) -> bool:
    """Whether the command records a trace (``--trace-file``): it then needs a fresh session.

    A trace must hold every frame from the server's start to replay; a warm session's
    frames start in the middle of someone else's conversation.
    """
    return any(a == "--trace-file" or a.startswith("--trace-file=") for a in argv)


BUDGET_FACTOR = 4.0
DEFAULT_TIMEOUT = 60.0
#: the longest a request waits for the one before it; then its client runs it in-process
QUEUE_WAIT = 30.0


def request_budget(argv: list[str]) -> float:
    """Seconds the daemon lets one command run: ``BUDGET_FACTOR`` x its ``--timeout``."""
    timeout = DEFAULT_TIMEOUT
    for i, arg in enumerate(argv):
        value = None
        if arg == "--timeout" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--timeout="):
            value = arg.split("=", 1)[1]
        if value is not None:
            with contextlib.suppress(ValueError):
                timeout = max(float(value), 0.1)
    return max(BUDGET_FACTOR * timeout, 1.0)
