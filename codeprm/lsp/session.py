"""An async language-server session: lifecycle, document sync, bounded requests, restarts.

The session owns one server process at a time. Every request is bounded by a timeout;
a server that hangs is killed (the request fails with exit code 64), a server that
crashes is restarted with backoff and the in-flight request retried once (exit code 65
if that fails too). Documents are re-opened on the new server with their last text.
Diagnostics are pulled (textDocument/diagnostic), so each result belongs to the
document version that was last sent: no sleeps, no stale pushes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException

from codeprm.errors import (
    CancelledError,
    CodeprmError,
    ContentModifiedError,
    ReplayMismatchError,
    ServerCrashError,
    ServerTimeoutError,
    UnsupportedCapabilityError,
)
from codeprm.lsp import convert
from codeprm.lsp.client import CodeprmClient, FrameSink
from codeprm.lsp.playback import PLAYBACK_MISMATCH_CODE
from codeprm.lsp.servers import ServerSpec, basedpyright_spec, config_digest, find_target_python
from codeprm.types import Diagnostic, Hover, Location, Position, Range, Symbol

T = TypeVar("T")

#: Seconds to wait before each successive restart of a crashed server.
RESTART_BACKOFF = (0.0, 0.25, 1.0, 3.0)


@dataclass(frozen=True)
class SessionConfig:
    root: Path
    python: Path | None = None
    timeout: float = 60.0
    spec: ServerSpec | None = None
    frame_sink: FrameSink | None = None
    #: recorded (direction, body) frames answered by a PlaybackServer (frame playback) instead of a
    #: real server
    replay_frames: tuple[tuple[str, str], ...] | None = None


@dataclass
class ServerInfo:
    """What the running server said about itself; recorded in every bundle."""

    name: str
    version: str
    position_encoding: str
    capabilities: dict[str, Any] = field(default_factory=dict)
    #: how diagnostics are obtained: "pull" (textDocument/diagnostic) or "push" (publishDiagnostics)
    diagnostics_mode: str = "pull"


@dataclass
class _Document:
    version: int
    text: str
    #: the client's ``changes_sent`` right after this version was sent (push path)
    sent_at: int = 0
    language_id: str = "python"


def _capabilities(caps: lsp.ServerCapabilities) -> dict[str, Any]:
    def has(value: Any) -> bool:
        return value not in (None, False)

    rename = caps.rename_provider
    return {
        "definition": has(caps.definition_provider),
        "references": has(caps.references_provider),
        "hover": has(caps.hover_provider),
        "documentSymbol": has(caps.document_symbol_provider),
        "rename": has(rename),
        "prepareRename": isinstance(rename, lsp.RenameOptions) and bool(rename.prepare_provider),
        "codeAction": has(caps.code_action_provider),
        # basedpyright registers pull diagnostics dynamically, after initialize
        "diagnosticPull": "static" if has(caps.diagnostic_provider) else "dynamic",
        "textDocumentSync": "incremental"
        if _sync_kind(caps) == lsp.TextDocumentSyncKind.Incremental
        else "full",
    }


def _sync_kind(caps: lsp.ServerCapabilities) -> lsp.TextDocumentSyncKind | None:
    sync = caps.text_document_sync
    if isinstance(sync, lsp.TextDocumentSyncOptions):
        return sync.change
    return sync


class LspSession:
    """One conversation with a language server over a workspace root."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.root = config.root.resolve()
        self.python = find_target_python(self.root, config.python)
        self.spec = config.spec or basedpyright_spec(self.python)
        self.mapper = convert.PathMapper(self.root)
        self.info: ServerInfo | None = None
        self.restarts = 0
        self.config_digest = config_digest(self.root, self.spec)
        self._client: CodeprmClient | None = None
        self._documents: dict[str, _Document] = {}
        #: push path: ``changes_sent`` at the last didOpen or text change (not a re-send)
        self._last_change = 0
        #: push path: documents whose last diagnostics were taken at the settle bound
        self.unsettled: set[str] = set()
        self._lock = asyncio.Lock()
        #: (start, end) perf_counter times of the recent waits on the server's answers
        self.waits: collections.deque[tuple[float, float]] = collections.deque(maxlen=4096)

    # -- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> LspSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._client is not None:
            return
        client = CodeprmClient(
            configuration=self.spec.section,
            workspace_folders=[lsp.WorkspaceFolder(uri=self.root.as_uri(), name=self.root.name)],
            frame_sink=self.config.frame_sink,
            replay_frames=self.config.replay_frames,
        )
        try:
            await client.start_process(self.spec.command, cwd=str(self.root))
        except OSError as err:
            raise ServerCrashError(
                f"cannot start the language server ({self.spec.command[0]}): {err.strerror or err}"
            ) from err
        self._client = client
        try:
            result = await self._bounded(
                client, client.initialize_async(self._initialize_params()), "initialize"
            )
        except BaseException:
            await self._kill()
            raise
        client.initialized(lsp.InitializedParams())
        client.workspace_did_change_configuration(
            lsp.DidChangeConfigurationParams(settings=self.spec.settings)
        )
        caps = result.capabilities
        server = result.server_info
        self.info = ServerInfo(
            name=server.name if server else self.spec.name,
            # basedpyright reports its own version; other servers are recorded by their pinned
            # version (clangd's own string names the build platform, which bundle ids must not)
            version=(
                server.version
                if server
                and server.version
                and (self.spec.language == "python" or self.spec.version == "override")
                else self.spec.version
            ),
            # basedpyright speaks utf-16 only and omits the field, which then means utf-16
            position_encoding=str(caps.position_encoding or lsp.PositionEncodingKind.Utf16.value),
            capabilities=_capabilities(caps),
            diagnostics_mode="pull"
            if self.spec.diagnostics == "pull" or caps.diagnostic_provider is not None
            else "push",
        )
        if caps.diagnostic_provider is not None:
            client.diagnostic_registered.set()
        for uri, doc in self._documents.items():  # after a restart
            client.text_document_did_open(
                lsp.DidOpenTextDocumentParams(
                    text_document=lsp.TextDocumentItem(
                        uri=uri, language_id=doc.language_id, version=doc.version, text=doc.text
                    )
                )
            )
            client.changes_sent += 1
            doc.sent_at = self._last_change = client.changes_sent

    def _initialize_params(self) -> lsp.InitializeParams:
        root_uri = self.root.as_uri()
        return lsp.InitializeParams(
            process_id=os.getpid(),  # the server exits when we die: no orphaned node
            root_uri=root_uri,
            root_path=str(self.root),
            workspace_folders=[lsp.WorkspaceFolder(uri=root_uri, name=self.root.name)],
            client_info=lsp.ClientInfo(name="codeprm"),
            initialization_options=self.spec.initialization_options,
            capabilities=lsp.ClientCapabilities(
                general=lsp.GeneralClientCapabilities(
                    position_encodings=[lsp.PositionEncodingKind.Utf16]
                ),
                workspace=lsp.WorkspaceClientCapabilities(
                    configuration=True,
                    workspace_folders=True,
                    apply_edit=True,
                    workspace_edit=lsp.WorkspaceEditClientCapabilities(document_changes=True),
                    diagnostics=lsp.DiagnosticWorkspaceClientCapabilities(refresh_support=True),
                    did_change_watched_files=lsp.DidChangeWatchedFilesClientCapabilities(
                        dynamic_registration=True
                    ),
                ),
                text_document=lsp.TextDocumentClientCapabilities(
                    synchronization=lsp.TextDocumentSyncClientCapabilities(
                        dynamic_registration=False
                    ),
                    diagnostic=lsp.DiagnosticClientCapabilities(
                        dynamic_registration=True, related_document_support=False
                    ),
                    publish_diagnostics=lsp.PublishDiagnosticsClientCapabilities(
                        version_support=True
                    ),
                    hover=lsp.HoverClientCapabilities(
                        content_format=[lsp.MarkupKind.Markdown, lsp.MarkupKind.PlainText]
                    ),
                    definition=lsp.DefinitionClientCapabilities(link_support=False),
                    references=lsp.ReferenceClientCapabilities(),
                    document_symbol=lsp.DocumentSymbolClientCapabilities(
                        hierarchical_document_symbol_support=True
                    ),
                    rename=lsp.RenameClientCapabilities(prepare_support=True),
                    code_action=lsp.CodeActionClientCapabilities(
                        code_action_literal_support=lsp.ClientCodeActionLiteralOptions(
                            code_action_kind=lsp.ClientCodeActionKindOptions(
                                value_set=[k for k in lsp.CodeActionKind]
                            )
                        )
                    ),
                ),
                window=lsp.WindowClientCapabilities(work_done_progress=True),
            ),
        )

    async def close(self) -> None:
        """shutdown, exit, then stop: stop alone hangs on a server that is still running."""
        client = self._client
        if client is None:
            return
        if client.playback is not None or (
            client.process is not None and client.process.returncode is None
        ):
            try:
                await asyncio.wait_for(
                    client.shutdown_async(None), timeout=min(self.config.timeout, 5.0)
                )
                client.exit(None)
                if (
                    client.process is not None
                ):  # a server that ignores exit is killed after its grace
                    await asyncio.wait_for(client.process.wait(), timeout=self.spec.exit_grace)
            except (TimeoutError, RuntimeError, JsonRpcException, ConnectionError):
                pass
        await self._kill()

    async def _kill(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if client.playback is not None:
            client.playback.close()
        proc = client.process
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        with contextlib.suppress(TimeoutError, RuntimeError):
            await asyncio.wait_for(client.stop(), timeout=5.0)

    async def restart(self) -> None:
        """Kill whatever runs and start a fresh server, with backoff between tries."""
        last: CodeprmError | None = None
        for delay in RESTART_BACKOFF:
            await self._kill()
            if delay:
                await asyncio.sleep(delay)
            self.restarts += 1
            try:
                await self.start()
                return
            except ServerCrashError as err:
                last = err
        raise ServerCrashError(f"the language server keeps crashing: {last}") from last

    @property
    def pid(self) -> int | None:
        if self._client and self._client.process:
            return self._client.process.pid
        return None

    def _crash_message(self, client: CodeprmClient) -> str:
        if client.fault is not None:
            return client.fault
        code = client.process.returncode if client.process else None
        tail = next((line for line in reversed(client.stderr_tail) if line.strip()), "")
        return f"the language server exited (code {code})" + (f": {tail}" if tail else "")

    # -- bounded requests ---------------------------------------------------------------------
    async def _bounded(
        self,
        client: CodeprmClient,
        awaitable: Awaitable[T],
        what: str,
        timeout: float | None = None,
    ) -> T:
        """Await a request under the timeout, translating transport failures."""
        limit = self.config.timeout if timeout is None else timeout
        exited = asyncio.ensure_future(client.exited.wait())
        request = asyncio.ensure_future(awaitable)
        began = time.perf_counter()
        try:
            done, _ = await asyncio.wait(
                {request, exited}, timeout=limit, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            exited.cancel()
            self.waits.append((began, time.perf_counter()))
        if request in done:
            try:
                return request.result()
            except JsonRpcException as err:
                raise _rpc_error(what, err) from err
            except (RuntimeError, ConnectionError) as err:
                raise ServerCrashError(f"{what}: {self._crash_message(client)}") from err
        request.cancel()
        if client.exited.is_set():
            raise ServerCrashError(f"{what}: {self._crash_message(client)}")
        # A server that does not answer in time is presumed hung: kill it, a later request restarts.
        await self._kill()
        raise ServerTimeoutError(f"the language server did not answer {what} within {limit:g}s")

    async def call(
        self, what: str, make: Callable[[CodeprmClient], Awaitable[T]], *, requests: int = 1
    ) -> T:
        """Run one request (or ``requests`` sent together); on a crash restart the server and retry
        once.

        Requests sent together are answered one after the other, so they are bounded by
        ``requests`` times the timeout: the same worst case as sending them one by one.
        """
        async with self._lock:
            for attempt in (0, 1):
                if self._client is None:
                    await (self.restart() if attempt or self.info else self.start())
                client = self._client
                assert client is not None
                try:
                    return await self._bounded(
                        client, make(client), what, self.config.timeout * max(1, requests)
                    )
                except ServerCrashError:
                    if attempt:
                        raise
                    await self.restart()
            raise AssertionError("unreachable")

    def server_seconds(self, since: float) -> float:
        """Seconds spent waiting on the server's answers in requests begun at or after ``since``."""
        return sum(end - began for began, end in list(self.waits) if began >= since)

    # -- documents --------------------------------------------------------------------------
    async def sync(self, path: Path, text: str) -> int:
        """Open a document, or send its new text if it changed; returns the version sent."""
        uri = path.resolve().as_uri()
        async with self._lock:
            if self._client is None:
                await (self.restart() if self.info else self.start())
            client = self._client
            assert client is not None
            doc = self._documents.get(uri)
            if doc is None:
                doc = self._documents[uri] = _Document(
                    version=1, text=text, language_id=self.spec.language_id(path)
                )
                client.text_document_did_open(
                    lsp.DidOpenTextDocumentParams(
                        text_document=lsp.TextDocumentItem(
                            uri=uri, language_id=doc.language_id, version=1, text=text
                        )
                    )
                )
                client.changes_sent += 1
                doc.sent_at = self._last_change = client.changes_sent
            elif doc.text != text:
                doc.text = text
                self._send_change(client, uri, doc)
                self._last_change = doc.sent_at
            return doc.version

    @staticmethod
    def _send_change(client: CodeprmClient, uri: str, doc: _Document) -> None:
        doc.version += 1
        client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=doc.version),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=doc.text)],
            )
        )
        client.changes_sent += 1
        doc.sent_at = client.changes_sent

    async def close_document(self, path: Path) -> None:
        uri = path.resolve().as_uri()
        async with self._lock:
            if self._documents.pop(uri, None) is not None and self._client is not None:
                self._client.text_document_did_close(
                    lsp.DidCloseTextDocumentParams(
                        text_document=lsp.TextDocumentIdentifier(uri=uri)
                    )
                )

    async def files_changed(self, changes: list[tuple[Path, str]]) -> None:
        """Tell the server that files changed on disk (``created``, ``changed`` or ``deleted``).

        The server caches import resolution and the text of files it has not opened; a
        scratch checkout that moves from state to state must say what it wrote.
        """
        kinds = {
            "created": lsp.FileChangeType.Created,
            "changed": lsp.FileChangeType.Changed,
            "deleted": lsp.FileChangeType.Deleted,
        }
        if not changes:
            return
        async with self._lock:
            if self._client is None:
                return  # a (re)started server reads the disk afresh
            events = [
                lsp.FileEvent(uri=path.resolve().as_uri(), type=kinds[kind])
                for path, kind in changes
            ]
            self._client.workspace_did_change_watched_files(
                lsp.DidChangeWatchedFilesParams(changes=events)
            )

    def document_version(self, path: Path) -> int | None:
        """The version last sent for an open document (None: not open)."""
        doc = self._documents.get(path.resolve().as_uri())
        return doc.version if doc else None

    def open_documents(self) -> dict[Path, str]:
        """Every document the session holds open, with the text last sent."""
        from codeprm.lsp.convert import uri_to_path

        out = {}
        for uri, doc in self._documents.items():
            path = uri_to_path(uri)
            if path is not None:
                out[path] = doc.text
        return out

    @staticmethod
    def _doc_id(path: Path) -> lsp.TextDocumentIdentifier:
        return lsp.TextDocumentIdentifier(uri=path.resolve().as_uri())

    # -- features -----------------------------------------------------------------------------
    async def diagnostics(self, path: Path) -> list[Diagnostic]:
        """Pull the diagnostics of an open document at the version last synced."""
        return (await self.diagnostics_many([path]))[0]

    async def diagnostics_many(self, paths: list[Path]) -> list[list[Diagnostic]]:
        """Pull the diagnostics of several open documents, the requests sent all at once.

        The server answers them in turn; pipelining saves a round trip per document.
        """
        resolved = [path.resolve() for path in paths]
        uris = [path.as_uri() for path in resolved]
        if not uris:
            return []

        if self.info is not None and self.info.diagnostics_mode == "push":
            pushed = await self.call(
                "textDocument/publishDiagnostics",
                lambda c: self._pushed(c, uris),
                requests=len(uris),
            )
            return [
                self._portable(convert.diagnostics(self.mapper.rel(uri), items))
                for uri, items in zip(uris, pushed, strict=True)
            ]

        def send(client: CodeprmClient) -> asyncio.Future[Any]:
            """The requests sent now (what ``text_document_diagnostic_async`` sends), their
            answers gathered (one request: its own future, one hop less): no task stands
            between the call and the wire. A failure is the returned future's; the requests
            still pending then are cancelled."""
            try:
                if client.stopped:
                    raise RuntimeError("Client has been stopped.")
                pending = [
                    client.protocol.send_request_async(
                        "textDocument/diagnostic",
                        lsp.DocumentDiagnosticParams(
                            text_document=lsp.TextDocumentIdentifier(uri=uri)
                        ),
                    )
                    for uri in uris
                ]
            except Exception as err:
                failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                failed.set_exception(err)
                return failed
            if len(pending) == 1:
                return pending[0]
            gathered = asyncio.gather(*pending)
            gathered.add_done_callback(lambda _: [future.cancel() for future in pending])
            return gathered

        async def pull(client: CodeprmClient) -> Any:
            try:
                if not client.diagnostic_registered.is_set():
                    await asyncio.wait_for(
                        client.diagnostic_registered.wait(), timeout=self.config.timeout
                    )
            except TimeoutError as err:
                raise UnsupportedCapabilityError(
                    f"{self.spec.name} did not offer pull diagnostics (textDocument/diagnostic)"
                ) from err
            return await send(client)  # listed by the caller, as the fast path's answer

        def make(client: CodeprmClient) -> Awaitable[Any]:
            # registered (the usual case): sent at once, not on the loop's next turn
            return send(client) if client.diagnostic_registered.is_set() else pull(client)

        reports = _listed(
            await self.call("textDocument/diagnostic", make, requests=len(uris)), len(uris)
        )
        return [
            self._portable(
                convert.diagnostics(self._rel(uri, path), getattr(report, "items", None) or [])
            )
            for uri, path, report in zip(uris, resolved, reports, strict=True)
        ]

    def _rel(self, uri: str, resolved: Path) -> str:
        """``mapper.rel(uri)`` for the uri of a resolved path, without resolving it again."""
        if convert.uri_to_path(uri) != resolved:
            return self.mapper.rel(uri)
        try:
            return resolved.relative_to(self.mapper.root).as_posix()
        except ValueError:
            return uri

    def _portable(self, diags: list[Diagnostic]) -> list[Diagnostic]:
        """Messages that name workspace files by absolute path (clangd's notes do) name them
        relative to the root, so the facts do not depend on where the workspace lies.
        basedpyright's messages are left as they always were."""
        if self.spec.language == "python":
            return diags
        prefix = str(self.root) + os.sep
        return [
            dataclasses.replace(d, message=d.message.replace(prefix, ""))
            if prefix in d.message
            else d
            for d in diags
        ]

    async def _pushed(self, client: CodeprmClient, uris: list[str]) -> list[list[lsp.Diagnostic]]:
        """The published diagnostics of each document for the text last sent (push path).

        A result counts only when its ``version`` is the version last sent. A document whose
        version was sent before another document changed is opened again (same text, next
        version) first: the server's earlier result for it may predate that change, and only
        a new version tells the two apart. A server that publishes without versions is
        taken once it has published after the last send and then stayed quiet for the
        spec's ``settle_quiet``; at ``settle_bound`` the latest such result is taken and the
        document recorded in ``unsettled``. Never a fixed sleep: a versioned result is
        taken the moment it arrives.
        """
        loop = asyncio.get_running_loop()
        for uri in uris:
            doc = self._documents.get(uri)
            if doc is None:
                raise UnsupportedCapabilityError(
                    f"{self.spec.name}: diagnostics of a document that is not open: {uri}"
                )
            if doc.sent_at < self._last_change:
                # re-opened, not re-sent: a server may skip a change that leaves the text as it
                # was (clangd does), but every server checks a document it is given anew
                client.text_document_did_close(
                    lsp.DidCloseTextDocumentParams(
                        text_document=lsp.TextDocumentIdentifier(uri=uri)
                    )
                )
                doc.version += 1
                client.text_document_did_open(
                    lsp.DidOpenTextDocumentParams(
                        text_document=lsp.TextDocumentItem(
                            uri=uri, language_id=doc.language_id, version=doc.version, text=doc.text
                        )
                    )
                )
                client.changes_sent += 1
                doc.sent_at = client.changes_sent
        deadline = loop.time() + self.spec.settle_bound
        out: dict[str, list[lsp.Diagnostic]] = {}
        while True:
            now_mono = time.monotonic()
            quiet_left = 0.0
            for uri in uris:
                if uri in out:
                    continue
                doc = self._documents[uri]
                history = client.published.get(uri, [])
                match = next((h for h in reversed(history) if h[0] == doc.version), None)
                if match is not None:
                    out[uri] = match[1]
                    self.unsettled.discard(uri)
                    continue
                after = [h for h in history if h[0] is None and h[2] >= doc.sent_at]
                if after:
                    waited = now_mono - after[-1][3]
                    if waited >= self.spec.settle_quiet:
                        out[uri] = after[-1][1]
                        self.unsettled.discard(uri)
                    else:
                        quiet_left = max(quiet_left, self.spec.settle_quiet - waited)
            if len(out) == len(uris):
                return [out[u] for u in uris]
            left = deadline - loop.time()
            if left <= 0:
                for uri in uris:
                    if uri in out:
                        continue
                    doc = self._documents[uri]
                    after = [
                        h
                        for h in client.published.get(uri, [])
                        if h[0] is None and h[2] >= doc.sent_at
                    ]
                    if not after:
                        raise ServerTimeoutError(
                            f"{self.spec.name} published no diagnostics for "
                            f"{self.mapper.rel(uri)} at version {doc.version} within "
                            f"{self.spec.settle_bound:g}s"
                        )
                    out[uri] = after[-1][1]
                    self.unsettled.add(uri)
                return [out[u] for u in uris]
            client.published_event.clear()
            wait = min(left, quiet_left) if quiet_left else left
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(client.published_event.wait(), timeout=wait)

    async def definition(self, path: Path, pos: Position) -> list[Location]:
        params = lsp.DefinitionParams(
            text_document=self._doc_id(path), position=convert.to_lsp_position(pos)
        )
        result = await self.call(
            "textDocument/definition", lambda c: c.text_document_definition_async(params)
        )
        return convert.locations(self.mapper, result)

    async def references(
        self, path: Path, pos: Position, include_declaration: bool = True
    ) -> list[Location]:
        params = lsp.ReferenceParams(
            text_document=self._doc_id(path),
            position=convert.to_lsp_position(pos),
            context=lsp.ReferenceContext(include_declaration=include_declaration),
        )
        result = await self.call(
            "textDocument/references", lambda c: c.text_document_references_async(params)
        )
        return convert.locations(self.mapper, result)

    async def hover(self, path: Path, pos: Position) -> Hover | None:
        params = lsp.HoverParams(
            text_document=self._doc_id(path), position=convert.to_lsp_position(pos)
        )
        return convert.hover(
            await self.call("textDocument/hover", lambda c: c.text_document_hover_async(params))
        )

    async def symbols(self, path: Path) -> list[Symbol]:
        params = lsp.DocumentSymbolParams(text_document=self._doc_id(path))
        return convert.symbols(
            await self.call(
                "textDocument/documentSymbol",
                lambda c: c.text_document_document_symbol_async(params),
            )
        )

    async def prepare_rename(self, path: Path, pos: Position) -> Range | None:
        """The range the server would rename at pos, or None when nothing renamable is there."""
        params = lsp.PrepareRenameParams(
            text_document=self._doc_id(path), position=convert.to_lsp_position(pos)
        )
        result = await self.call(
            "textDocument/prepareRename", lambda c: c.text_document_prepare_rename_async(params)
        )
        return convert.prepare_rename_range(result, pos)

    async def rename(self, path: Path, pos: Position, new_name: str) -> dict[str, Any] | None:
        """The server's WorkspaceEdit for a rename, as plain JSON (codeprm.workspace parses it)."""
        params = lsp.RenameParams(
            text_document=self._doc_id(path),
            position=convert.to_lsp_position(pos),
            new_name=new_name,
        )
        result = await self.call(
            "textDocument/rename", lambda c: c.text_document_rename_async(params)
        )
        return None if result is None else self._unstructure(result)

    async def code_actions(
        self, path: Path, range_: Range, diagnostics: list[Diagnostic]
    ) -> list[dict[str, Any]]:
        """Code actions for a range, each as plain JSON {title, kind, edit?, diagnostics?}."""
        uri = path.resolve().as_uri()
        context = lsp.CodeActionContext(
            diagnostics=[convert.to_lsp_diagnostic(d) for d in diagnostics]
        )
        params = lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            range=convert.to_lsp_range(range_),
            context=context,
        )
        result = (
            await self.call(
                "textDocument/codeAction", lambda c: c.text_document_code_action_async(params)
            )
            or []
        )
        out = []
        for item in result:
            data = self._unstructure(item)
            if isinstance(item, lsp.Command):
                data = {"title": item.title, "command": data}
            out.append(data)
        return out

    def _unstructure(self, value: Any) -> Any:
        assert self._client is not None
        return self._client.protocol._converter.unstructure(value)


def _listed(answer: Any, requests: int) -> list[Any]:
    """The answers of ``requests`` pulls: a gathered list, or one request's own answer."""
    return list(answer) if requests > 1 else [answer]


def _rpc_error(what: str, err: JsonRpcException) -> CodeprmError:
    code = getattr(err, "code", None)
    message = f"{what}: {getattr(err, 'message', None) or err}"
    if code == lsp.LSPErrorCodes.ContentModified:
        return ContentModifiedError(message)
    if code == lsp.LSPErrorCodes.RequestCancelled:
        return CancelledError(message)
    if code == lsp.ErrorCodes.MethodNotFound:
        return UnsupportedCapabilityError(message)
    if code == PLAYBACK_MISMATCH_CODE:
        return ReplayMismatchError(f"replay: {getattr(err, 'message', None) or err}")
    return ServerCrashError(f"the language server failed {message}")
