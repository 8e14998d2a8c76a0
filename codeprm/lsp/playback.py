"""Frame playback: an in-process stand-in for the server that answers from recorded
JSON-RPC frames.

``codeprm trace replay`` gives the frames of a recorded invocation to the session
(``SessionConfig.replay_frames``), which then talks to a ``PlaybackServer`` instead of
starting a process. Each message the client sends
is matched, in order, with the next recorded message of the same method and the same
params (``initialize`` excepted: it carries the process id); what the server sent after
that message in the recording is fed back, with response ids mapped to the new request
ids. A message that does not match is a replay mismatch: the pending request fails
with exit code 76 instead of guessing. (Not to be confused with re-scoring recorded
bundles, ``codeprm replay``: ``rewards.rescore``.)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: JSON-RPC error code the playback server answers with on a mismatch.
PLAYBACK_MISMATCH_CODE = -32099


@dataclass
class _Recorded:
    direction: str
    message: dict[str, Any]


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class PlaybackServer:
    """Reads what the client writes; writes what the recorded server said."""

    def __init__(self, frames: Sequence[tuple[str, str]]) -> None:
        self.reader = asyncio.StreamReader()
        self._frames = [_Recorded(d, json.loads(b)) for d, b in frames]
        self._cursor = 0
        self._ids: dict[Any, Any] = {}  # recorded request id -> live request id
        self.mismatch: str | None = None

    # the writer interface pygls uses
    def write(self, data: bytes) -> None:
        _, _, body = data.partition(b"\r\n\r\n")
        message = json.loads(body)
        method = message.get("method")
        if method is None:
            return  # our answer to a recorded server request: nothing to match
        if self.mismatch is None:
            self._match(message)
        if self.mismatch is not None and "id" in message:
            self.reader.feed_data(
                _frame(
                    {
                        "jsonrpc": "2.0",
                        "id": message["id"],
                        "error": {"code": PLAYBACK_MISMATCH_CODE, "message": self.mismatch},
                    }
                )
            )
        if method == "exit":
            self.reader.feed_eof()

    def close(self) -> None:
        if not self.reader.at_eof():
            self.reader.feed_eof()

    def _match(self, message: dict[str, Any]) -> None:
        method = message["method"]
        j = next(
            (
                i
                for i in range(self._cursor, len(self._frames))
                if self._frames[i].direction == "send"
                and self._frames[i].message.get("method") is not None
            ),
            None,
        )
        if j is None:
            self.mismatch = f"the trace ends before {method}"
            return
        recorded = self._frames[j].message
        if recorded["method"] != method:
            self.mismatch = (
                f"expected {recorded['method']} from the trace, the replay sent {method}"
            )
            return
        if method != "initialize" and recorded.get("params") != message.get("params"):
            self.mismatch = (
                f"{method}: its params differ from the trace (the workspace or the request changed)"
            )
            return
        if "id" in recorded and "id" in message:
            self._ids[recorded["id"]] = message["id"]
        k = next(
            (
                i
                for i in range(j + 1, len(self._frames))
                if self._frames[i].direction == "send"
                and self._frames[i].message.get("method") is not None
            ),
            len(self._frames),
        )
        for rec in self._frames[j + 1 : k]:
            if rec.direction != "recv":
                continue
            out = dict(rec.message)
            if "method" not in out and out.get("id") in self._ids:
                out["id"] = self._ids.pop(out["id"])
            self.reader.feed_data(_frame(out))
        self._cursor = k
