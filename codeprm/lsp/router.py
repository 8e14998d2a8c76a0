"""One language-server session per language, behind the facade one session had.

A workspace can hold Python, TypeScript/JavaScript and C sources; each language has its
own server (``servers.spec_for``). ``SessionRouter`` starts a language's session the
first time a file of that language is synced or asked about, and sends every call to the
session of the file's language, so the analysis layer keeps talking to one object. A
file of no known language goes to the Python session (as before: it is the primary one).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codeprm.errors import UnsupportedCapabilityError
from codeprm.languages import language_of, order
from codeprm.lsp.client import Frame
from codeprm.lsp.facade import SyncSession
from codeprm.lsp.servers import find_target_python, spec_for
from codeprm.lsp.session import LspSession, ServerInfo, SessionConfig
from codeprm.types import Diagnostic, Hover, Location, Position, Range, Symbol

PRIMARY = "python"


def language_name(path: Path | str) -> str:
    lang = language_of(path)
    return lang.name if lang is not None else PRIMARY


class _Sessions:
    """What callers read off ``SyncSession.session``, over every started session."""

    def __init__(self, router: SessionRouter) -> None:
        self._router = router

    def _primary(self) -> LspSession:
        return self._router.primary().session

    def open_documents(self) -> dict[Path, str]:
        out: dict[Path, str] = {}
        for s in self._router.started().values():
            out.update(s.session.open_documents())
        return out

    def server_seconds(self, since: float) -> float:
        return sum(s.session.server_seconds(since) for s in self._router.started().values())

    @property
    def restarts(self) -> int:
        return sum(s.session.restarts for s in self._router.started().values())

    @property
    def pid(self) -> int | None:
        return self._primary().pid

    @property
    def python(self) -> Path:
        return find_target_python(self._router.root, self._router.config.python)

    @property
    def config_digest(self) -> str:
        return self._primary().config_digest

    @property
    def spec(self) -> Any:
        return self._primary().spec

    def document_version(self, path: Path) -> int | None:
        return self._router.for_path(path).session.document_version(path)


class SessionRouter:
    """Sessions by language, started on first use; the SyncSession surface, routed by path."""

    def __init__(self, config: SessionConfig) -> None:
        self.config = config
        self.root = config.root.resolve()
        self._sessions: dict[str, SyncSession] = {}
        self.session = _Sessions(self)

    # -- sessions ----------------------------------------------------------------------------
    def for_language(self, language: str) -> SyncSession:
        found = self._sessions.get(language)
        if found is None:
            spec = (
                self.config.spec if language == PRIMARY and self.config.spec is not None else None
            )
            if spec is None:
                spec = spec_for(language, find_target_python(self.root, self.config.python))
            found = SyncSession(
                dataclasses.replace(self.config, spec=spec, **self._frames(language))
            ).__enter__()
            self._sessions[language] = found
        return found

    def _frames(self, language: str) -> dict[str, Any]:
        """A language's own trace frames. Python's are recorded as they were (``send`` /
        ``recv``); another language's are marked with its name (``typescript-send``), so a
        trace of a mixed workspace replays each session from its own frames."""
        frames = self.config.replay_frames
        if language == PRIMARY:
            if frames is not None:
                frames = tuple(f for f in frames if f[0] in ("send", "recv"))
            return {"replay_frames": frames}
        mark = f"{language}-"
        sink = self.config.frame_sink
        if frames is not None:
            frames = tuple((d.removeprefix(mark), b) for d, b in frames if d.startswith(mark))

        def marked(frame: Frame) -> None:
            assert sink is not None
            sink(Frame(mark + frame.direction, frame.body))

        return {"replay_frames": frames, "frame_sink": marked if sink is not None else None}

    def for_path(self, path: Path | str) -> SyncSession:
        return self.for_language(language_name(path))

    def started(self) -> dict[str, SyncSession]:
        return {name: self._sessions[name] for name in order(list(self._sessions))}

    def primary(self, languages: Iterable[str] = ()) -> SyncSession:
        """The session whose server a bundle names first: the first of ``languages`` (Python
        first), else the first started one, else Python's (started now)."""
        names = order(list(languages))
        if names:
            return self.for_language(names[0])
        started = self.started()
        return next(iter(started.values())) if started else self.for_language(PRIMARY)

    @property
    def info(self) -> ServerInfo:
        return self.primary().info

    def close(self) -> None:
        sessions, self._sessions = self._sessions, {}
        errors: list[BaseException] = []
        for s in sessions.values():
            try:
                s.close()
            except Exception as err:  # close the others anyway
                errors.append(err)
        if errors:
            raise errors[0]

    def __enter__(self) -> SessionRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- routed calls ------------------------------------------------------------------------
    def sync(self, path: Path, text: str) -> int:
        return self.for_path(path).sync(path, text)

    def sync_many(self, documents: list[tuple[Path, str]]) -> None:
        """``sync`` of each (path, text): each server gets its documents in the given order,
        all of them in one trip to its session's thread."""
        groups: dict[str, list[tuple[Path, str]]] = defaultdict(list)
        for path, text in documents:
            groups[language_name(path)].append((path, text))
        for name in order(list(groups)):
            self.for_language(name).sync_many(groups[name])

    def close_document(self, path: Path) -> None:
        s = self._sessions.get(language_name(path))
        if s is not None:
            s.close_document(path)

    def files_changed(self, changes: list[tuple[Path, str]]) -> None:
        for s in self._sessions.values():  # every server reads the disk
            s.files_changed(changes)

    def diagnostics(self, path: Path) -> list[Diagnostic]:
        return self.for_path(path).diagnostics(path)

    def diagnostics_many(self, paths: list[Path]) -> list[list[Diagnostic]]:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(paths):
            groups[language_name(p)].append(i)
        out: list[list[Diagnostic]] = [[] for _ in paths]
        for name in order(list(groups)):
            idx = groups[name]
            for i, diags in zip(
                idx, self.for_language(name).diagnostics_many([paths[i] for i in idx]), strict=True
            ):
                out[i] = diags
        return out

    def definition(self, path: Path, pos: Position) -> list[Location]:
        return self._able(path, "definition", "textDocument/definition").definition(path, pos)

    def references(
        self, path: Path, pos: Position, include_declaration: bool = True
    ) -> list[Location]:
        return self._able(path, "references", "textDocument/references").references(
            path, pos, include_declaration
        )

    def hover(self, path: Path, pos: Position) -> Hover | None:
        return self._able(path, "hover", "textDocument/hover").hover(path, pos)

    def symbols(self, path: Path) -> list[Symbol]:
        return self._able(path, "documentSymbol", "textDocument/documentSymbol").symbols(path)

    def prepare_rename(self, path: Path, pos: Position) -> Range | None:
        return self.for_path(path).prepare_rename(path, pos)

    def rename(self, path: Path, pos: Position, new_name: str) -> dict[str, Any] | None:
        return self._able(path, "rename", "textDocument/rename").rename(path, pos, new_name)

    def code_actions(
        self, path: Path, range_: Range, diagnostics: list[Diagnostic]
    ) -> list[dict[str, Any]]:
        return self._able(path, "codeAction", "textDocument/codeAction").code_actions(
            path, range_, diagnostics
        )

    def _able(self, path: Path, capability: str, method: str) -> SyncSession:
        """The session of the path's language, when its server offers ``capability`` (else 72)."""
        s = self.for_path(path)
        if not s.info.capabilities.get(capability, False):
            raise UnsupportedCapabilityError(
                f"{s.info.name} {s.info.version} does not offer {method} "
                f"({language_name(path)} files)"
            )
        return s

    def restart(self) -> None:
        for s in self._sessions.values() or [self.primary()]:
            s.restart()

    def request_raw(self, method: str, params: Any) -> Any:
        return self.primary().request_raw(method, params)

    def servers(
        self, languages: Iterable[str], paths: Iterable[str | Path] = ()
    ) -> list[dict[str, Any]]:
        """Which server produced the facts of each language (recorded in bundles). A push
        server's entry lists, as ``unsettled``, those of ``paths`` whose last diagnostics
        were taken at the settle bound (absent when there are none)."""
        wanted = {(self.root / p).resolve().as_uri() for p in paths}
        out = []
        for name in order(list(languages)):
            s = self.for_language(name)
            info, inner = s.info, s.session
            entry = {
                "language": name,
                "name": info.name,
                "version": info.version,
                "diagnosticsMode": info.diagnostics_mode,
                "positionEncoding": info.position_encoding,
                "configDigest": inner.config_digest,
            }
            unsettled = sorted(inner.mapper.rel(uri) for uri in inner.unsettled & wanted)
            if unsettled:
                entry["unsettled"] = unsettled
            out.append(entry)
        return out
