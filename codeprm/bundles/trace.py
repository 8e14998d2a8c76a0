"""Trace files: what one CLI invocation did, as JSONL, with a chained digest.

One invocation appends these records, in order, each with ``inv`` (the invocation id)
and ``seq``:

    begin      schema, chain, argv, cwd, codeprm version
    workspace  root and workspace digest, when a session starts
    frame      one JSON-RPC body as it crossed the pipe: dir "send" | "recv" (Python's
               server), "<language>-send" | "<language>-recv" (another language's, e.g.
               "typescript-send"), each prefixed "shadow-" for the scratch mirror's server
    bundle     every bundle the invocation produced
    end        exit code, status, error line, operation, selector, and ``digest``

``digest`` is chained over the canonical encoding of every record of the invocation, the
end record included (without its ``digest``): editing, dropping or reordering any of them
is detected (exit 76), and replay checks the end record whole against what the replayed
command does.

Two chains. ``sha256`` (the default) is integrity only: it catches accidental damage and
naive edits, but anyone can recompute it after editing the file, so it proves nothing
about who wrote the trace. ``hmac-sha256`` is keyed (``--trace-key FILE`` or
``CODEPRM_TRACE_KEY``): without the key an edited trace cannot be re-chained, so replay
with the key detects forgery. Neither chain notices a whole invocation removed from the
file (each invocation is chained on its own).

Recording is per call: whoever runs an invocation makes a ``Recorder`` (or, to replay,
a ``Collector``) and hands it to the Workbench of that call, which passes it down to its
analyzer (frames, workspace) and records every bundle the call makes. No recorder is
process-global, so a daemon serving one call cannot record into another's trace.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from codeprm import __version__
from codeprm.bundles.canonical import canonical_bytes
from codeprm.errors import ReplayMismatchError, UsageError, VersionSkewError

TRACE_SCHEMA = "codeprm.trace/2"
_GENESIS = hashlib.sha256(TRACE_SCHEMA.encode()).hexdigest()
PLAIN, KEYED = "sha256", "hmac-sha256"
RECORD_TYPES = frozenset({"begin", "workspace", "frame", "bundle", "end"})
#: the fields of an end record that replay recomputes (all but inv, seq, type, digest)
END_FIELDS = ("exitCode", "status", "error", "operation", "selector")


def read_key_file(path: Path) -> bytes:
    """The key held in ``path`` (its bytes, less one trailing newline)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read the trace key {path}: {err.strerror or err}") from err
    data = data[:-1] if data.endswith(b"\n") else data
    if not data:
        raise UsageError(f"the trace key file {path} is empty")
    return data


def key(key_file: Path | None = None, env: Mapping[str, str] | None = None) -> bytes | None:
    """The trace key of a call: ``--trace-key FILE``, else CODEPRM_TRACE_KEY (of ``env``), else
    None."""
    if key_file is not None:
        return read_key_file(key_file)
    value = (os.environ if env is None else env).get("CODEPRM_TRACE_KEY")
    return value.encode("utf-8") if value else None


def _chain(previous: str, record: dict[str, Any], secret: bytes | None = None) -> str:
    data = previous.encode() + canonical_bytes(record)
    if secret is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(secret, data, hashlib.sha256).hexdigest()


def end_fields(exit_code: int, error: str | None, bundles: list[dict[str, Any]]) -> dict[str, Any]:
    """The end record's content for an invocation that exited ``exit_code`` after ``bundles``."""
    last = bundles[-1] if bundles else {}
    request = last.get("request") or {}
    return {
        "exitCode": exit_code,
        "status": "ok" if exit_code == 0 else "error",
        "error": error,
        "operation": request.get("operation"),
        "selector": request.get("selector"),
    }


def _open_append(path: Path) -> BinaryIO:
    """Open a regular file for appending; never blocks on a FIFO or writes to a device."""
    try:
        fd = os.open(
            path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o666
        )
    except OSError as err:
        raise UsageError(f"cannot write the trace file {path}: {err.strerror or err}") from err
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"cannot write the trace file {path}: not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab")


class Recorder:
    """Appends one invocation's records to a trace file, flushing each."""

    def __init__(
        self, path: Path, argv: list[str], secret: bytes | None = None, cwd: str | None = None
    ) -> None:
        self._out: BinaryIO = _open_append(path)
        self._key = secret
        self.path = path
        self.inv = uuid.uuid4().hex[:12]
        self._seq = 0
        self._digest = _GENESIS
        self._lock = threading.Lock()
        self.bundles: list[dict[str, Any]] = []
        self.write(
            {
                "type": "begin",
                "schema": TRACE_SCHEMA,
                "chain": KEYED if secret else PLAIN,
                "argv": argv,
                "cwd": os.getcwd() if cwd is None else cwd,
                "codeprmVersion": __version__,
                "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )

    def write(self, record: dict[str, Any]) -> None:
        with self._lock:
            full = {"inv": self.inv, "seq": self._seq, **record}
            self._digest = _chain(self._digest, full, self._key)
            if record.get("type") == "end":
                full["digest"] = self._digest
            self._seq += 1
            self._out.write(canonical_bytes(full) + b"\n")
            self._out.flush()

    def frame(self, direction: str, body: str) -> None:
        self.write({"type": "frame", "dir": direction, "body": body})

    def workspace(self, root: Path, digest: str) -> None:
        self.write({"type": "workspace", "root": str(root), "digest": digest})

    def bundle(self, bundle: dict[str, Any]) -> None:
        self.bundles.append(bundle)
        self.write({"type": "bundle", "bundle": bundle})

    def end(self, exit_code: int, error: str | None) -> None:
        self.write({"type": "end", **end_fields(exit_code, error, self.bundles)})
        self._out.close()


class Collector:
    """Stands in for a Recorder during replay: keeps the bundles, writes nothing."""

    def __init__(self) -> None:
        self.bundles: list[dict[str, Any]] = []
        self.workspaces: list[tuple[Path, str]] = []

    def frame(self, direction: str, body: str) -> None:
        pass

    def workspace(self, root: Path, digest: str) -> None:
        self.workspaces.append((root, digest))

    def bundle(self, bundle: dict[str, Any]) -> None:
        self.bundles.append(bundle)

    def end(self, exit_code: int, error: str | None) -> None:
        pass


class TraceSink(Protocol):
    """What a call reports to: a Recorder, a Collector, or anything shaped like them."""

    def frame(self, direction: str, body: str) -> None: ...

    def workspace(self, root: Path, digest: str) -> None: ...

    def bundle(self, bundle: dict[str, Any]) -> None: ...


# -- reading ---------------------------------------------------------------------------------


@dataclass
class Invocation:
    inv: str
    records: list[dict[str, Any]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type") == kind]

    @property
    def begin(self) -> dict[str, Any]:
        begins = self.of("begin")
        if not begins:
            raise ReplayMismatchError(
                f"invocation {self.inv}: no begin record (the trace was modified)"
            )
        return begins[0]

    @property
    def end(self) -> dict[str, Any] | None:
        ends = self.of("end")
        return ends[0] if ends else None

    @property
    def argv(self) -> list[str]:
        argv = self.begin.get("argv")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise ReplayMismatchError(
                f"invocation {self.inv}: the begin record has no argv (the trace was modified)"
            )
        return list(argv)

    @property
    def chain(self) -> str:
        return str(self.begin.get("chain"))

    @property
    def bundles(self) -> list[dict[str, Any]]:
        return [r["bundle"] for r in self.of("bundle")]

    @property
    def frames(self) -> list[tuple[str, str]]:
        return [(r["dir"], r["body"]) for r in self.of("frame")]

    @property
    def operation(self) -> str | None:
        end = self.end
        return (end or {}).get("operation") or (self.argv[0] if self.argv else None)

    def summary(self) -> dict[str, Any]:
        end = self.end or {}
        return {
            "inv": self.inv,
            "argv": self.argv,
            "operation": self.operation,
            "selector": end.get("selector"),
            "status": end.get("status", "incomplete"),
            "exitCode": end.get("exitCode"),
            "bundles": len(self.of("bundle")),
            "frames": len(self.of("frame")),
            "createdAt": self.begin.get("createdAt"),
        }

    def verify(self, secret: bytes | None = None) -> str:
        """Check the structure and the chained digest; any edited, dropped or reordered record is
        76.

        Returns the chain verified: ``sha256`` (integrity only) or ``hmac-sha256`` (keyed).
        With a key, a trace that is not keyed is refused (76): anyone could have written it.
        """
        where = f"invocation {self.inv}"
        for expected_seq, record in enumerate(self.records):
            if record.get("seq") != expected_seq:
                raise ReplayMismatchError(
                    f"{where}: record {expected_seq} is missing or out of order"
                )
            if record.get("type") not in RECORD_TYPES:
                raise ReplayMismatchError(
                    f"{where}: record {expected_seq} has an unknown type {record.get('type')!r}"
                )
        kinds = [r.get("type") for r in self.records]
        if not kinds or kinds[0] != "begin" or kinds.count("begin") != 1:
            raise ReplayMismatchError(
                f"{where}: the trace does not start with its one begin record (the trace "
                "was modified)"
            )
        if kinds[-1] != "end" or kinds.count("end") != 1:
            raise ReplayMismatchError(f"{where}: the trace is incomplete (no end record)")
        chain = self.records[0].get("chain")
        if chain not in (PLAIN, KEYED):
            raise ReplayMismatchError(f"{where}: unknown chain {chain!r} (the trace was modified)")
        if chain == KEYED and secret is None:
            raise UsageError(
                f"{where} has a keyed chain ({KEYED}): give --trace-key FILE or set "
                "CODEPRM_TRACE_KEY to verify it"
            )
        if chain == PLAIN and secret is not None:
            raise ReplayMismatchError(
                f"{where}: the trace is not keyed (plain {PLAIN} chain), so anyone could "
                "have written it"
            )
        digest = _GENESIS
        for record in self.records:
            body = {
                k: v
                for k, v in record.items()
                if not (record.get("type") == "end" and k == "digest")
            }
            digest = _chain(digest, body, secret if chain == KEYED else None)
        recorded = self.records[-1].get("digest")
        if not isinstance(recorded, str) or not hmac.compare_digest(
            recorded.encode("utf-8", "surrogatepass"), digest.encode("utf-8", "surrogatepass")
        ):
            raise ReplayMismatchError(f"{where}: trace digest mismatch (the trace was modified)")
        return str(chain)


def read(path: Path) -> list[Invocation]:
    """Invocations of a trace file, in the order they began."""
    import json

    try:
        lines = path.read_bytes().splitlines()
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror or err}") from err
    invocations: dict[str, Invocation] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            inv = record["inv"]
            if not isinstance(inv, str) or not isinstance(record, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError) as err:
            raise ReplayMismatchError(
                f"{path}:{number}: not a trace record (the trace was modified or is not a trace)"
            ) from err
        schema = record.get("schema")
        if record.get("type") == "begin" and schema != TRACE_SCHEMA:
            if isinstance(schema, str) and re.fullmatch(r"codeprm\.trace/\d+", schema):
                raise VersionSkewError(
                    f"{path}:{number}: trace schema {schema!r}; this codeprm reads {TRACE_SCHEMA!r}"
                )
            raise ReplayMismatchError(
                f"{path}:{number}: unknown trace schema {schema!r} (the trace was modified)"
            )
        invocations.setdefault(inv, Invocation(inv)).records.append(record)
    return list(invocations.values())


def select(
    invocations: Iterable[Invocation],
    *,
    operation: str | None = None,
    selector: str | None = None,
    status: str | None = None,
    exit_code: int | None = None,
) -> Iterator[Invocation]:
    for inv in invocations:
        s = inv.summary()
        if operation is not None and s["operation"] != operation:
            continue
        if selector is not None and s["selector"] != selector:
            continue
        if status is not None and s["status"] != status:
            continue
        if exit_code is not None and s["exitCode"] != exit_code:
            continue
        yield inv
