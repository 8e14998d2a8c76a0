"""Navigation and diagnostics over a live session, each answer an analysis bundle.

This is the library behind ``codeprm def|refs|hover|symbols|diag``: it resolves targets,
syncs the documents involved, asks the server, and wraps the facts in a bundle. It
knows nothing of click or of how results are rendered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeprm import safeio
from codeprm.analysis import files
from codeprm.bundles import make_bundle
from codeprm.bundles.environment import capture
from codeprm.bundles.trace import TraceSink
from codeprm.errors import CodeprmError, NotFoundError
from codeprm.lsp import SessionConfig
from codeprm.lsp.client import Frame
from codeprm.lsp.router import SessionRouter, language_name
from codeprm.types import Diagnostic, Location, Position, Range

#: the prefix of a trace's frame directions that the mirror's server exchanged (``Analyzer.shadow``)
SHADOW = "shadow-"


def open_analyzer(root: Path, python: Path | None = None, timeout: float = 60.0) -> Analyzer:
    """A fresh analyzer (warm ones belong to a ``codeprm.workbench.Workbench``)."""
    return Analyzer(root=root, python=python, timeout=timeout)


@dataclass(frozen=True)
class Target:
    """A resolved place in the workspace: a file and a 0-based utf-16 range in it."""

    path: Path
    range: Range
    selector: str
    resolution: dict[str, Any] = field(default_factory=dict)
    anchor: Position | None = None

    @property
    def position(self) -> Position:
        """Where questions about the target are asked (a definition's name, else the start)."""
        return self.anchor or self.range.start


@dataclass
class Analyzer:
    """One workspace, one warm session, many questions (a Workbench owns the warm one)."""

    root: Path
    python: Path | None = None
    timeout: float = 60.0
    frame_sink: Callable[[Frame], None] | None = None
    #: a pooled analyzer (a warm Workbench's) outlives the calls that use it
    pooled: bool = False
    #: the trace of the current call (``bundles.trace.TraceSink``): frames, workspace, bundles
    trace: TraceSink | None = None
    #: recorded frames to answer from instead of starting a server (``codeprm trace replay``)
    replay_frames: tuple[tuple[str, str], ...] | None = None
    #: the current call's directory, where a relative file name not in the workspace is
    #: looked up (``file``); None: the process's
    cwd: Path | None = None
    #: measured snapshots (texts digest, covered files) -> diagnostics; see StepEngine.measure
    measure_cache: dict[Any, Any] = field(default_factory=dict)
    #: (path, text sha256, surfaces digest of the snapshot) -> that file's diagnostics; see
    #: StepEngine.measure
    file_diagnostics: dict[Any, Any] = field(default_factory=dict)
    #: files the last workspace-wide walk left out, with the reason (a FIFO, too large ...)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    #: the workspace a trace records when the server runs elsewhere (a commit range's scratch
    #: checkout)
    traced_root: Path | None = None
    #: measure a state whose Python file set differs from the disk's in a scratch mirror
    #: (``for_state``); off where the server's disk already follows the states (a commit
    #: range's checkout) and in the mirror's own analyzer
    mirror_states: bool = True
    _session: SessionRouter | None = None
    _shadow: Analyzer | None = None
    _mirror: Any = None
    _disk_files: files.SourceFileSet | None = None
    _mirror_languages: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        self.root = self.root.resolve()

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Analyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.pooled:
            self.close()

    def refresh(self) -> list[str]:
        """Re-sync every open document whose file changed on disk (an editor, git checkout).

        Returns the workspace-relative paths that changed; deleted files are closed.
        """
        if self._session is None:
            return []
        changed = []
        for path, text in self._session.session.open_documents().items():
            try:
                current = files.read_source(path)
            except CodeprmError:
                self._session.close_document(path)
                changed.append(path.as_posix())
                continue
            if current != text:
                self._session.sync(path, current)
                changed.append(path.as_posix())
        return changed

    def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            session.close()
        if self._shadow is not None:
            shadow, self._shadow = self._shadow, None
            shadow.close()
        if self._mirror is not None:
            mirror, self._mirror = self._mirror, None
            mirror.close()

    # -- the server's view of the disk -------------------------------------------------------
    def mirror_languages(self) -> tuple[Any, ...]:
        """The languages whose file sets states are compared on (``workspace.mirror``)."""
        if self._mirror_languages is None:
            from codeprm.workspace.mirror import mirror_languages

            self._mirror_languages = mirror_languages(self.root)
        return self._mirror_languages

    def source_files_on_disk(self) -> frozenset[str]:
        """The workspace's sources of the mirrored languages as the walk finds them now
        (``files.SourceFileSet``)."""
        if self._disk_files is None:
            self._disk_files = files.SourceFileSet(self.root, self.mirror_languages())
        return self._disk_files.current()

    def for_state(self, texts: Mapping[str, str]) -> Analyzer:
        """The analyzer whose server sees the disk as the state ``texts`` has it.

        The servers resolve imports against the file system. When the state's sources of
        the mirrored languages (``workspace.mirror.mirrored``: Python, and TypeScript/
        JavaScript where the workspace uses it) are the disk's, that is this analyzer (the warm
        session, the common case of a body edit); otherwise it is the shadow: an analyzer
        rooted in a scratch mirror (``workspace.mirror.ScratchMirror``) moved to the state's
        file set, the server told what changed. Its diagnostics have the same
        workspace-relative paths, and the same settings, interpreter and configuration
        files, so the two answer alike for the same state.
        """
        from codeprm.workspace.mirror import mirrored

        if not self.mirror_states:
            return self
        languages = self.mirror_languages()
        state = frozenset(p for p, t in texts.items() if mirrored(p, t, languages))
        disk = self.source_files_on_disk()
        if state == disk or (state <= disk and not any(self._readable(p) for p in disk - state)):
            return self  # a file no state can hold (not UTF-8 text) is the disk's in every state
        shadow = self.shadow()
        assert self._mirror is not None
        events = self._mirror.sync(texts)
        if events and shadow._session is not None:
            shadow._session.files_changed(events)
        return shadow

    def _readable(self, rel: str) -> bool:
        try:
            files.read_source(self.root / rel)
        except CodeprmError:
            return False
        return True

    def shadow(self) -> Analyzer:
        """The mirror's analyzer, created on first use (its frames go to this call's trace,
        marked ``shadow-send`` / ``shadow-recv``, and replay from those)."""
        if self._shadow is None:
            from codeprm.lsp.servers import find_target_python
            from codeprm.workspace.mirror import ScratchMirror

            python = find_target_python(self.root, self.python)
            self._mirror = ScratchMirror(
                self.root, key=f"{self.root}\0{python}", languages=self.mirror_languages()
            )
            main = self

            def sink(frame: Frame) -> None:
                if main.trace is not None:
                    main.trace.frame(SHADOW + frame.direction, frame.body)

            frames = None
            if self.replay_frames is not None:
                frames = tuple(
                    (d.removeprefix(SHADOW), b)
                    for d, b in self.replay_frames
                    if d.startswith(SHADOW)
                )
            self._shadow = Analyzer(
                root=self._mirror.root,
                python=python,
                timeout=self.timeout,
                frame_sink=sink,
                replay_frames=frames,
                mirror_states=False,
            )
        return self._shadow

    @property
    def session(self) -> SessionRouter:
        if self._session is None:
            sink = self.frame_sink
            recorder = self.trace
            if recorder is not None:
                traced = self.traced_root or self.root
                recorder.workspace(traced, files.workspace_digest(traced))
                if sink is None:
                    sink = lambda frame: recorder.frame(frame.direction, frame.body)  # noqa: E731
            frames = self.replay_frames
            if frames is not None:  # the shadow's frames are its own (``shadow``)
                frames = tuple(f for f in frames if not f[0].startswith(SHADOW))
            config = SessionConfig(
                root=self.root,
                python=self.python,
                timeout=self.timeout,
                frame_sink=sink,
                replay_frames=frames,
            )
            self._session = SessionRouter(config)
        return self._session

    # -- targets -----------------------------------------------------------------------------
    def file(self, given: str | Path) -> Path:
        """A file named on the command line: workspace-relative first, then relative to the
        call's directory (``cwd``)."""
        p = Path(given)
        here = self.cwd if self.cwd is not None else Path.cwd()
        candidates = [p] if p.is_absolute() else [self.root / p, here / p]
        for c in candidates:
            found = safeio.problem(c)  # names a FIFO, a loop, a long name, a huge file
            if isinstance(found, NotFoundError):
                continue
            files.relative(self.root, c)  # refuses paths outside the workspace
            if found is not None:
                raise found
            return c.resolve()
        raise NotFoundError(f"{given}: no such file in workspace {self.root}")

    def resolve(self, selector: str, index_io: str = "utf-16", *, anchor: bool = True) -> Target:
        """Any selector kind -> a Target, through codeprm.selectors.

        With ``anchor`` a symbol or AST-path selector points at the definition's name, where
        the server answers definition, references, hover and rename questions.
        """
        from codeprm import selectors
        from codeprm.analysis import structure
        from codeprm.workspace.textstore import TextStore

        store = TextStore(self.root)
        index = selectors.WorkspaceIndex(self.root, scan=False, archive=store)
        res = selectors.resolve(selector, index, index_io=index_io)
        resolved = index.file(res.path)
        if resolved is not None:  # a later ?v= of this text relocates, in any process
            store.remember(res.path, resolved.text)
        path = self.root / res.path
        position = res.range.start
        if anchor and res.kind in ("symbol", "ast"):
            position = (
                structure.name_position(files.read_source(path), res.range.start, res.path)
                or position
            )
        return Target(
            path=path, range=res.range, selector=selector, resolution=res.to_json(), anchor=position
        )

    def open(self, path: Path) -> str:
        text = files.read_source(path)
        self.session.sync(path, text)
        return text

    def open_all(self, language: str | None = None) -> dict[str, str]:
        """Sync every readable Python file of the workspace; workspace-wide answers need them.

        (basedpyright's references and rename only search documents the client opened.)
        """
        texts = {}
        for path in files.iter_source_files(self.root, self.skipped):
            if language is not None and language_name(path) != language:
                continue  # another language's server is not started for nothing
            try:
                texts[files.relative(self.root, path)] = self.open(path)
            except CodeprmError:  # unreadable files are simply not part of the answer
                continue
        return texts

    # -- bundles -----------------------------------------------------------------------------
    def record(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """Report a bundle this call made to the call's trace (if any); returns it."""
        if self.trace is not None:
            self.trace.bundle(bundle)
        return bundle

    def _bundle(
        self,
        operation: str,
        *,
        targets: Sequence[str],
        facts: dict[str, Any],
        started: float,
        selector: str | None = None,
        params: dict[str, Any] | None = None,
        resolution: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return self.record(
            make_bundle(
                request={
                    "operation": operation,
                    "workspaceDigest": files.workspace_digest(self.root),
                    "targets": list(targets),
                    "selector": selector,
                    "params": params or {},
                },
                resolution=resolution,
                facts=facts,
                environment=self.environment(targets),
                capabilities=self.capabilities(targets),
                meta=self.meta(started),
            )
        )

    def environment(self, paths: Sequence[str | Path] = ()) -> dict[str, Any]:
        """The environment block of every bundle this analyzer makes.

        ``paths`` are the files the facts are about: the server named is their first
        language's (Python first). When any is not Python, ``servers`` records, per
        language, which server, version and diagnostics mode produced its facts; a
        Python-only bundle is as it always was.
        """
        session = self.session
        languages = sorted({language_name(p) for p in paths})
        primary = session.primary(languages)
        info = primary.info
        env = capture(
            server_name=info.name,
            server_version=info.version,
            position_encoding=info.position_encoding,
            python=session.session.python,
            config_digest=primary.session.config_digest,
        )
        if any(lang != "python" for lang in languages):
            env["servers"] = session.servers(languages, paths)
        return env

    def capabilities(self, paths: Sequence[str | Path] = ()) -> dict[str, Any]:
        """The capabilities of the server of the facts' first language (Python first)."""
        return dict(
            self.session.primary(sorted({language_name(p) for p in paths})).info.capabilities
        )

    def meta(self, started: float) -> dict[str, Any]:
        """The volatile block: timings and where this ran (never part of the bundle id)."""
        return {
            "durationMs": round((time.perf_counter() - started) * 1000, 3),
            "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "serverRestarts": self.session.session.restarts,
            "serverMs": round(self.session.session.server_seconds(started) * 1000, 3),
            "workspaceRoot": str(self.root),
        }

    # -- operations --------------------------------------------------------------------------
    def diagnostics(self, targets: Sequence[str | Path] = ()) -> dict[str, Any]:
        """Diagnostics of the given files, or of every Python file in the workspace."""
        started = time.perf_counter()
        self.skipped = []
        if targets:
            paths = sorted({self.file(t) for t in targets})
        else:
            paths = list(files.iter_source_files(self.root, self.skipped))
            if not paths:
                raise NotFoundError(f"no Python files (nor other sources) in workspace {self.root}")
        for path in paths:  # open everything first: cross-file facts need the whole set
            self.open(path)
        diags: list[Diagnostic] = []
        for found in self.session.diagnostics_many(paths):
            diags.extend(found)
        diags.sort(key=Diagnostic.sort_key)
        counts = {
            sev: sum(1 for d in diags if d.severity == sev)
            for sev in ("error", "warning", "information")
        }
        rels = [files.relative(self.root, p) for p in paths]
        facts = {"diagnostics": [d.to_json() for d in diags], "counts": counts, "files": rels}
        return self._bundle("diag", targets=rels, facts=facts, started=started)

    def _at(
        self,
        operation: str,
        selector: str,
        index_io: str,
        ask: Callable[[Path, Position], dict[str, Any]],
    ) -> dict[str, Any]:
        started = time.perf_counter()
        target = self.resolve(selector, index_io)
        self.open(target.path)
        facts = ask(target.path, target.position)
        rel = files.relative(self.root, target.path)
        return self._bundle(
            operation,
            targets=[rel],
            selector=selector,
            facts=facts,
            started=started,
            resolution=target.resolution,
        )

    def definition(self, selector: str, index_io: str = "utf-16") -> dict[str, Any]:
        return self._at(
            "def",
            selector,
            index_io,
            lambda p, pos: {"locations": _locs(self.session.definition(p, pos))},
        )

    def references(
        self, selector: str, index_io: str = "utf-16", include_declaration: bool = True
    ) -> dict[str, Any]:
        def ask(p: Path, pos: Position) -> dict[str, Any]:
            self.open_all(language_name(p))
            return {"locations": _locs(self.session.references(p, pos, include_declaration))}

        return self._at("refs", selector, index_io, ask)

    def hover(self, selector: str, index_io: str = "utf-16") -> dict[str, Any]:
        def ask(p: Path, pos: Position) -> dict[str, Any]:
            h = self.session.hover(p, pos)
            return {"hover": h.to_json() if h else None}

        return self._at("hover", selector, index_io, ask)

    def symbols(self, target: str) -> dict[str, Any]:
        started = time.perf_counter()
        path = self.file(target)
        self.open(path)
        syms = self.session.symbols(path)
        rel = files.relative(self.root, path)
        return self._bundle(
            "symbols",
            targets=[rel],
            facts={"symbols": [s.to_json() for s in syms]},
            started=started,
        )


def _locs(locs: list[Location]) -> list[dict[str, Any]]:
    return [loc.to_json() for loc in sorted(set(locs), key=Location.sort_key)]
