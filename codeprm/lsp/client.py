"""The pygls LanguageClient codeprm drives: process start, frame capture, server requests.

Every server-to-client request is answered here: basedpyright exits when one of its
requests is left unanswered (workspace/diagnostic/refresh in particular).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from codeprm import __version__
from codeprm.lsp import replay

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


class _TeeReader:
    """Wraps the server's stdout; pygls reads headers by line and bodies exactly."""

    def __init__(self, reader: asyncio.StreamReader, sink: FrameSink) -> None:
        self._reader = reader
        self._sink = sink

    async def readline(self) -> bytes:
        return await self._reader.readline()

    async def readexactly(self, n: int) -> bytes:
        data = await self._reader.readexactly(n)
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
    ) -> None:
        super().__init__("codeprm", __version__)
        self.frame_sink = frame_sink
        self.stderr_tail: deque[str] = deque(maxlen=50)
        self.log_tail: deque[str] = deque(maxlen=50)
        self.registrations: dict[str, Any] = {}
        self.diagnostic_registered = asyncio.Event()
        self.exited = asyncio.Event()
        self.process: asyncio.subprocess.Process | None = None
        self.replay_server: replay.ReplayServer | None = None
        self._configuration = configuration
        self._folders = workspace_folders
        self._install_handlers()

    # -- process ------------------------------------------------------------------------
    async def start_process(self, command: tuple[str, ...], cwd: str) -> None:
        """Start the server over stdio, tee its frames, and drain its stderr.

        When recorded frames are installed (``codeprm trace replay``) no process starts:
        a ReplayServer answers from the recording instead.
        """
        from pygls.io_ import run_async

        frames = replay.installed()
        if frames is not None:
            self.replay_server = replay.ReplayServer(frames)
            self.protocol.set_writer(self.replay_server)
            self._async_tasks.append(
                asyncio.create_task(
                    run_async(
                        stop_event=self._stop_event,
                        reader=self.replay_server.reader,
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
        connection = asyncio.create_task(
            run_async(
                stop_event=self._stop_event,
                reader=_TeeReader(server.stdout, sink),  # type: ignore[arg-type]
                protocol=self.protocol,
                logger=logging.getLogger("pygls.client"),
                error_handler=self.report_server_error,
            )
        )
        self._server = server
        self.process = server
        self._async_tasks.extend([connection, asyncio.create_task(self._server_exit()), asyncio.create_task(self._drain(server.stderr))])

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
        def apply_edit(ls: Any, params: lsp.ApplyWorkspaceEditParams) -> lsp.ApplyWorkspaceEditResult:
            # codeprm applies edits itself, through its safety envelope, never on request.
            return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason="codeprm applies edits itself")

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

        for method in (
            lsp.WINDOW_WORK_DONE_PROGRESS_CREATE,
            lsp.WINDOW_SHOW_MESSAGE_REQUEST,
            lsp.WORKSPACE_DIAGNOSTIC_REFRESH,
            lsp.WORKSPACE_SEMANTIC_TOKENS_REFRESH,
            lsp.WORKSPACE_INLAY_HINT_REFRESH,
            lsp.WORKSPACE_INLINE_VALUE_REFRESH,
            lsp.WORKSPACE_CODE_LENS_REFRESH,
            lsp.WORKSPACE_FOLDING_RANGE_REFRESH,
            # notifications we do not need: diagnostics are pulled, progress ignored
            lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
            lsp.PROGRESS,
            lsp.TELEMETRY_EVENT,
            lsp.LOG_TRACE,
        ):
            self.feature(method)(answer_none)
