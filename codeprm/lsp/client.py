"""The pygls LanguageClient codeprm drives: process start, frame capture, server requests.

Every server-to-client request is answered here: basedpyright exits when one of its
requests is left unanswered (workspace/diagnostic/refresh in particular).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from codeprm import __version__
from codeprm.lsp import playback

if not os.environ.get("CODEPRM_DEBUG"):
    # pygls logs warnings for benign events (unknown notifications); keep stderr ours.
    logging.getLogger("pygls").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Frame:
    """One JSON-RPC message as it crossed the pipe (body only, without headers)."""

    direction: str  # "send" (client -> server) or "recv"
    body: str


FrameSink = Callable[[Frame], None]


def _split_body(data: bytes) -> bytes:
    _head, sep, body = data.partition(b"\r\n\r\n")
    return body if sep else data


#: The largest message body accepted from a server; a larger Content-Length is a fault.
MAX_FRAME_BYTES = 256 * 1024 * 1024


class _TeeReader:
    """Wraps the server's stdout; pygls reads headers by line and bodies exactly.

    Framing faults (a Content-Length that is absurd or not a number, a stream that ends
    inside a body, a header line too long) are reported to ``on_fault`` and end the
    stream (``b""``) instead of killing pygls's read loop and leaving requests pending.
    """

    def __init__(
        self, reader: asyncio.StreamReader, sink: FrameSink, on_fault: Callable[[str], None]
    ) -> None:
        self._reader = reader
        self._sink = sink
        self._fault = on_fault
        self.last_body = b""

    async def readline(self) -> bytes:
        try:
            line = await self._reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            self._fault("the language server sent a header line that is too long")
            return b""
        if line[:15].lower() == b"content-length:":
            value = line[15:].strip()
            if not value.isdigit() or len(value) > 12 or int(value) > MAX_FRAME_BYTES:
                shown = value[:20].decode("ascii", "replace")
                self._fault(
                    f"the language server sent a bad header (Content-Length: {shown}; "
                    f"the limit is {MAX_FRAME_BYTES} bytes)"
                )
                return b""
        return line

    async def readexactly(self, n: int) -> bytes:
        try:
            data = await self._reader.readexactly(n)
        except asyncio.IncompleteReadError:
            self._fault(f"the language server's output ended inside a message of {n} bytes")
            return b""
        self.last_body = data
        self._sink(Frame("recv", data.decode("utf-8", "replace")))
        return data


class _TeeWriter:
    def __init__(self, writer: asyncio.StreamWriter, sink: FrameSink) -> None:
        self._writer = writer
        self._sink = sink

    def write(self, data: bytes) -> None:
        self._sink(Frame("send", _split_body(data).decode("utf-8", "replace")))
        self._writer.write(data)

    def close(self) -> None:
        self._writer.close()


class CodeprmClient(LanguageClient):
    """A LanguageClient that starts its server itself and answers everything it is asked."""

    def __init__(
        self,
        *,
        configuration: Callable[[str | None], Any],
        workspace_folders: list[lsp.WorkspaceFolder],
        frame_sink: FrameSink | None = None,
        replay_frames: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__("codeprm", __version__)
        self.frame_sink = frame_sink
        #: recorded (direction, body) frames to answer from instead of a process (trace replay)
        self.replay_frames = replay_frames
        self.stderr_tail: deque[str] = deque(maxlen=50)
        self.log_tail: deque[str] = deque(maxlen=50)
        self.registrations: dict[str, Any] = {}
        self.diagnostic_registered = asyncio.Event()
        #: push path: every textDocument/publishDiagnostics per uri, newest last, as
        #: (version or None, diagnostics, ``changes_sent`` when it arrived, arrival time)
        self.published: dict[str, list[tuple[int | None, list[lsp.Diagnostic], int, float]]] = {}
        #: didOpen / didChange notifications sent so far (the session counts them)
        self.changes_sent = 0
        #: set whenever a publish arrives (waiters clear it and look again)
        self.published_event = asyncio.Event()
        self.exited = asyncio.Event()
        self.process: asyncio.subprocess.Process | None = None
        self.playback: playback.PlaybackServer | None = None
        self._configuration = configuration
        self._folders = workspace_folders
        #: why the connection became unusable (a framing fault), None while it is fine
        self.fault: str | None = None
        self._reader: _TeeReader | None = None
        self._install_handlers()

    # -- process ------------------------------------------------------------------------
    async def start_process(self, command: tuple[str, ...], cwd: str) -> None:
        """Start the server over stdio, tee its frames, and drain its stderr.

        When the client was given recorded frames (``codeprm trace replay``) no process
        starts: a PlaybackServer answers from the recording instead.
        """
        from pygls.io_ import run_async

        frames = self.replay_frames
        if frames is not None:
            self.playback = playback.PlaybackServer(frames)
            self.protocol.set_writer(self.playback)
            self._async_tasks.append(
                asyncio.create_task(
                    run_async(
                        stop_event=self._stop_event,
                        reader=self.playback.reader,
                        protocol=self.protocol,
                        logger=logging.getLogger("pygls.client"),
                        error_handler=self.report_server_error,
                    )
                )
            )
            return
        server = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
        )
        assert server.stdout is not None and server.stdin is not None and server.stderr is not None
        sink = self.frame_sink or (lambda frame: None)
        self.protocol.set_writer(_TeeWriter(server.stdin, sink))
        self._reader = _TeeReader(server.stdout, sink, self.fail_connection)
        connection = asyncio.create_task(
            run_async(
                stop_event=self._stop_event,
                reader=self._reader,  # type: ignore[arg-type]
                protocol=self.protocol,
                logger=logging.getLogger("pygls.client"),
                error_handler=self.report_server_error,
            )
        )
        self._server = server
        self.process = server
        self._async_tasks.extend(
            [
                connection,
                asyncio.create_task(self._server_exit()),
                asyncio.create_task(self._drain(server.stderr)),
            ]
        )

    def fail_connection(self, reason: str) -> None:
        """The stream can no longer be trusted: fail every pending request (exit 65)."""
        self.fault = reason
        self._fail_pending(reason, None)
        self.exited.set()  # later requests fail at once as a crash (restart, retry once)

    def _fail_pending(self, reason: str, only: Any) -> None:
        from codeprm.errors import ServerCrashError

        futures = self.protocol._request_futures
        for msg_id, future in list(futures.items()):
            if (only is None or msg_id == only) and not future.done():
                futures.pop(msg_id, None)
                future.set_exception(ServerCrashError(reason))

    def report_server_error(self, error: Exception, source: Any) -> None:
        """A message pygls could not handle: a malformed reply fails its request (65).

        Without this the request would wait for an answer that already came, and end as a
        timeout (64) although the server did answer.
        """
        import json

        body = self._reader.last_body if self._reader is not None else b""
        try:
            message = json.loads(body)
        except ValueError:
            self._fail_pending(f"the language server sent a malformed message: {error}", None)
            return
        if isinstance(message, dict) and "method" not in message and "id" in message:
            self._fail_pending(
                f"the language server sent a malformed reply: {type(error).__name__}: {error}",
                message["id"],
            )

    async def _drain(self, stream: asyncio.StreamReader) -> None:
        # An undrained stderr pipe fills up and blocks the server.
        while line := await stream.readline():
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())

    async def server_exit(self, server: asyncio.subprocess.Process) -> None:
        self.exited.set()

    # -- server -> client ---------------------------------------------------------------
    def _install_handlers(self) -> None:
        @self.feature(lsp.WORKSPACE_CONFIGURATION)
        def configuration(ls: Any, params: lsp.ConfigurationParams) -> list[Any]:
            return [self._configuration(item.section) for item in params.items]

        @self.feature(lsp.CLIENT_REGISTER_CAPABILITY)
        def register(ls: Any, params: lsp.RegistrationParams) -> None:
            for reg in params.registrations:
                self.registrations[reg.method] = reg.register_options
                if reg.method == lsp.TEXT_DOCUMENT_DIAGNOSTIC:
                    self.diagnostic_registered.set()

        @self.feature(lsp.CLIENT_UNREGISTER_CAPABILITY)
        def unregister(ls: Any, params: lsp.UnregistrationParams) -> None:
            for unreg in params.unregisterations:
                self.registrations.pop(unreg.method, None)

        @self.feature(lsp.WORKSPACE_WORKSPACE_FOLDERS)
        def folders(ls: Any, params: Any) -> list[lsp.WorkspaceFolder]:
            return self._folders

        @self.feature(lsp.WORKSPACE_APPLY_EDIT)
        def apply_edit(
            ls: Any, params: lsp.ApplyWorkspaceEditParams
        ) -> lsp.ApplyWorkspaceEditResult:
            # codeprm applies edits itself, through its safety envelope, never on request.
            return lsp.ApplyWorkspaceEditResult(
                applied=False, failure_reason="codeprm applies edits itself"
            )

        @self.feature(lsp.WINDOW_SHOW_DOCUMENT)
        def show_document(ls: Any, params: lsp.ShowDocumentParams) -> lsp.ShowDocumentResult:
            return lsp.ShowDocumentResult(success=False)

        @self.feature(lsp.WINDOW_LOG_MESSAGE)
        def log_message(ls: Any, params: lsp.LogMessageParams) -> None:
            self.log_tail.append(params.message)

        @self.feature(lsp.WINDOW_SHOW_MESSAGE)
        def show_message(ls: Any, params: lsp.ShowMessageParams) -> None:
            self.log_tail.append(params.message)

        def answer_none(ls: Any, params: Any) -> None:
            return None

        @self.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def publish(ls: Any, params: lsp.PublishDiagnosticsParams) -> None:
            # kept for servers without pull; a pulled session never reads them
            history = self.published.setdefault(params.uri, [])
            history.append(
                (params.version, list(params.diagnostics), self.changes_sent, time.monotonic())
            )
            del history[:-8]
            self.published_event.set()

        for method in (
            lsp.WINDOW_WORK_DONE_PROGRESS_CREATE,
            lsp.WINDOW_SHOW_MESSAGE_REQUEST,
            lsp.WORKSPACE_DIAGNOSTIC_REFRESH,
            lsp.WORKSPACE_SEMANTIC_TOKENS_REFRESH,
            lsp.WORKSPACE_INLAY_HINT_REFRESH,
            lsp.WORKSPACE_INLINE_VALUE_REFRESH,
            lsp.WORKSPACE_CODE_LENS_REFRESH,
            lsp.WORKSPACE_FOLDING_RANGE_REFRESH,
            # notifications we do not need: progress ignored
            lsp.PROGRESS,
            lsp.TELEMETRY_EVENT,
            lsp.LOG_TRACE,
        ):
            self.feature(method)(answer_none)
