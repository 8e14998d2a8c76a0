"""A small synchronous facade over LspSession for the CLI and the SDK.

The session's event loop runs in a private thread; each method submits a coroutine and
waits for it. Use as a context manager so the server is always shut down.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from codeprm.lsp.session import LspSession, ServerInfo, SessionConfig
from codeprm.types import Diagnostic, Hover, Location, Position, Range, Symbol

T = TypeVar("T")


class SyncSession:
    def __init__(self, config: SessionConfig) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="codeprm-lsp", daemon=True
        )
        self._thread.start()
        try:
            self.session = self._run_plain(self._make(config))
        except BaseException:
            self._stop_loop()
            raise

    async def _make(self, config: SessionConfig) -> LspSession:
        return LspSession(config)

    def _run_plain(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def __enter__(self) -> SyncSession:
        try:
            self._run(self.session.start())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self.session.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    # -- pass-throughs ------------------------------------------------------------------------
    @property
    def info(self) -> ServerInfo:
        assert self.session.info is not None, "session not started"
        return self.session.info

    @property
    def root(self) -> Path:
        return self.session.root

    def sync(self, path: Path, text: str) -> int:
        return self._run(self.session.sync(path, text))

    def sync_many(self, documents: list[tuple[Path, str]]) -> list[int]:
        """``sync`` of each (path, text) in turn, in one trip to the session's thread."""
        return self._run(self._sync_many(documents))

    async def _sync_many(self, documents: list[tuple[Path, str]]) -> list[int]:
        return [await self.session.sync(path, text) for path, text in documents]

    def close_document(self, path: Path) -> None:
        self._run(self.session.close_document(path))

    def files_changed(self, changes: list[tuple[Path, str]]) -> None:
        self._run(self.session.files_changed(changes))

    def diagnostics(self, path: Path) -> list[Diagnostic]:
        return self._run(self.session.diagnostics(path))

    def diagnostics_many(self, paths: list[Path]) -> list[list[Diagnostic]]:
        return self._run(self.session.diagnostics_many(paths))

    def definition(self, path: Path, pos: Position) -> list[Location]:
        return self._run(self.session.definition(path, pos))

    def references(
        self, path: Path, pos: Position, include_declaration: bool = True
    ) -> list[Location]:
        return self._run(self.session.references(path, pos, include_declaration))

    def hover(self, path: Path, pos: Position) -> Hover | None:
        return self._run(self.session.hover(path, pos))

    def symbols(self, path: Path) -> list[Symbol]:
        return self._run(self.session.symbols(path))

    def prepare_rename(self, path: Path, pos: Position) -> Range | None:
        return self._run(self.session.prepare_rename(path, pos))

    def rename(self, path: Path, pos: Position, new_name: str) -> dict[str, Any] | None:
        return self._run(self.session.rename(path, pos, new_name))

    def code_actions(
        self, path: Path, range_: Range, diagnostics: list[Diagnostic]
    ) -> list[dict[str, Any]]:
        return self._run(self.session.code_actions(path, range_, diagnostics))

    def restart(self) -> None:
        self._run(self.session.restart())
