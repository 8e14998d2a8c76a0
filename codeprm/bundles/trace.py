"""Trace files: what one CLI invocation did, as JSONL, chained by sha256 against tampering.

One invocation appends these records, in order, each with ``inv`` (the invocation id)
and ``seq``:

    begin      schema, argv, cwd, codeprm version
    workspace  root and workspace digest, when a session starts
    frame      one JSON-RPC body as it crossed the pipe: dir "send" | "recv"
    bundle     every bundle the invocation produced
    end        exit code, status, error line, operation, selector, and ``digest``

``digest`` is sha256 chained over the canonical encoding of every earlier record of the
invocation, so editing, dropping or reordering any of them is detected (exit 76).
Recording is process-global: ``start`` installs a recorder that the analyzer (frames,
workspace) and ``make_bundle`` (bundles) report to.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from codeprm import __version__
from codeprm.bundles.canonical import canonical_bytes
from codeprm.errors import ReplayMismatchError, UsageError, VersionSkewError

TRACE_SCHEMA = "codeprm.trace/1"
_GENESIS = hashlib.sha256(b"codeprm.trace/1").hexdigest()


def _chain(previous: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(previous.encode() + canonical_bytes(record)).hexdigest()


class Recorder:
    """Appends one invocation's records to a trace file, flushing each."""

    def __init__(self, path: Path, argv: list[str]) -> None:
        try:
            self._out: BinaryIO = path.open("ab")
        except OSError as err:
            raise UsageError(f"cannot write the trace file {path}: {err.strerror or err}") from err
        self.path = path
        self.inv = uuid.uuid4().hex[:12]
        self._seq = 0
        self._digest = _GENESIS
        self._lock = threading.Lock()
        self.bundles: list[dict[str, Any]] = []
        self.write({"type": "begin", "schema": TRACE_SCHEMA, "argv": argv, "cwd": os.getcwd(), "codeprmVersion": __version__, "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def write(self, record: dict[str, Any]) -> None:
        with self._lock:
            full = {"inv": self.inv, "seq": self._seq, **record}
            if record.get("type") == "end":
                full["digest"] = self._digest
            else:
                self._digest = _chain(self._digest, full)
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
        last = self.bundles[-1] if self.bundles else {}
        request = last.get("request") or {}
        self.write(
            {
                "type": "end",
                "exitCode": exit_code,
                "status": "ok" if exit_code == 0 else "error",
                "error": error,
                "operation": request.get("operation"),
                "selector": request.get("selector"),
            }
        )
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


_active: Recorder | Collector | None = None


def start(path: Path, argv: list[str]) -> Recorder:
    global _active
    recorder = Recorder(path, argv)
    _active = recorder
    return recorder


def collect() -> Collector:
    global _active
    collector = Collector()
    _active = collector
    return collector


def active() -> Recorder | Collector | None:
    return _active


def stop(exit_code: int, error: str | None) -> None:
    global _active
    if _active is not None:
        rec, _active = _active, None
        rec.end(exit_code, error)


# -- reading ---------------------------------------------------------------------------------


@dataclass
class Invocation:
    inv: str
    records: list[dict[str, Any]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type") == kind]

    @property
    def begin(self) -> dict[str, Any]:
        return self.of("begin")[0]

    @property
    def end(self) -> dict[str, Any] | None:
        ends = self.of("end")
        return ends[0] if ends else None

    @property
    def argv(self) -> list[str]:
        return list(self.begin["argv"])

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

    def verify(self) -> None:
        """The chained digest must match: any edited, dropped or reordered record is 76."""
        end = self.end
        if end is None:
            raise ReplayMismatchError(f"invocation {self.inv}: the trace is incomplete (no end record)")
        digest = _GENESIS
        for expected_seq, record in enumerate(self.records):
            if record.get("seq") != expected_seq:
                raise ReplayMismatchError(f"invocation {self.inv}: record {expected_seq} is missing or out of order")
            if record is end:
                break
            digest = _chain(digest, record)
        if end.get("digest") != digest:
            raise ReplayMismatchError(f"invocation {self.inv}: trace digest mismatch (the trace was modified)")


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
        except (ValueError, KeyError, TypeError) as err:
            raise UsageError(f"{path}:{number}: not a trace record") from err
        if record.get("type") == "begin" and record.get("schema") != TRACE_SCHEMA:
            raise VersionSkewError(f"{path}:{number}: unknown trace schema {record.get('schema')!r}")
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
