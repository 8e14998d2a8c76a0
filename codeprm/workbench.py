"""The Workbench: the one owner of a workspace's warm state, behind every front door.

A Workbench holds what is worth keeping warm for one workspace (and one target
interpreter): the Analyzer and its language-server session, the measured-state memos the
analyzer carries, the selector index, and the learned PRM once loaded. Its methods are
the operations (``diag``, ``definition``, ``references``, ``hover``, ``symbols``,
``locate``, ``step``, ``score_trajectory`` / ``score_range``, ``rank``, ``rename``,
``actions``, ``apply``, ``repair``); each returns bundles (or a small result around
them). The front doors only parse, call and render: the click commands, ``batch``, the
daemon (a ``WorkbenchPool``), the MCP server (a Workbench subclass that bounds each
tool call) and the Claude Code hook.

Tracing is per call: ``with bench.call(trace)`` hands the call's ``TraceSink`` down to
the analyzer (frames, workspace) and every bundle the call makes; nothing is recorded
through process globals. ``replay_frames`` makes the session answer from recorded
frames instead of a server (``codeprm trace replay``).

This module never imports click, rich or the CLI.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeprm.errors import UsageError, WriteDeniedError

if TYPE_CHECKING:
    from codeprm.agents.loop import RepairResult
    from codeprm.analysis.edits import Planned
    from codeprm.analysis.episode import Episode
    from codeprm.analysis.navigate import Analyzer
    from codeprm.analysis.rank import Candidate, Ranked
    from codeprm.analysis.step import StepEngine, StepOutcome
    from codeprm.analysis.trajectory import TrajectoryStep
    from codeprm.bundles.trace import TraceSink
    from codeprm.selectors import Resolution, WorkspaceIndex
    from codeprm.workspace import ApplyOptions
    from codeprm.workspace.history import History

#: (choice, device) -> (scorer or None, why not): how ``--prm`` is loaded
PrmLoader = Callable[[str, str], tuple[Any, str | None]]
#: (states, covered files, execution selection or None) -> (each state's diagnostics,
#: execution facts by memo key): a trajectory's states measured elsewhere
Premeasure = Callable[[list[Any], list[str], Any], tuple[list[Any], dict[str, Any]]]


def _default_loader(choice: str, device: str) -> tuple[Any, str | None]:
    from codeprm.analysis.learned import load_prm

    return load_prm(choice, device)


@dataclass
class Located:
    """What ``locate`` found: the bundle, and the resolution and index to render it with."""

    bundle: dict[str, Any] | None
    resolution: Resolution
    index: WorkspaceIndex


@dataclass
class Workbench:
    """One workspace, its warm services, and the operations over them."""

    root: Path
    python: Path | None = None
    timeout: float = 60.0
    #: a pooled Workbench (the daemon's, the MCP server's) outlives its calls: before each
    #: call the documents its session holds are re-synced with the disk
    pooled: bool = False
    #: keep the selector index warm between calls (refreshed by content hash) instead of a
    #: fresh, lazily read index per call
    warm_index: bool = False
    #: recorded (direction, body) frames the session answers from (no server starts)
    replay_frames: tuple[tuple[str, str], ...] | None = None
    prm_loader: PrmLoader = field(default=_default_loader, repr=False)
    #: the trace of the call in progress (set by ``call``)
    trace: TraceSink | None = field(default=None, repr=False)
    #: the directory of the call in progress (set by ``call``): a file named relative to
    #: neither the workspace nor it is not found; None: the process's
    cwd: Path | None = field(default=None, repr=False)
    _analyzer: Analyzer | None = field(default=None, init=False, repr=False)
    _index: WorkspaceIndex | None = field(default=None, init=False, repr=False)
    _scorers: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.pooled:
            self.close()

    @property
    def analyzer(self) -> Analyzer:
        """The warm analyzer, created on first use (its server starts on its first question)."""
        if self._analyzer is None:
            from codeprm.analysis.navigate import Analyzer

            self._analyzer = Analyzer(
                root=self.root,
                python=self.python,
                timeout=self.timeout,
                pooled=self.pooled,
                trace=self.trace,
                replay_frames=self.replay_frames,
                cwd=self.cwd,
            )
        return self._analyzer

    @property
    def started(self) -> bool:
        """Whether a language server session is running."""
        return self._analyzer is not None and self._analyzer._session is not None

    @contextmanager
    def call(
        self, trace: TraceSink | None = None, *, cwd: Path | None = None, refresh: bool = True
    ) -> Iterator[Workbench]:
        """One call: re-sync a warm session with the disk (unless ``refresh`` is false), and
        record into ``trace`` meanwhile; relative file names name files under ``cwd``.

        A trace that must replay needs every frame from the server's start: record it on
        a fresh Workbench (the CLI does; a warm one's frames start mid-conversation).
        Calls of one Workbench run one at a time (they share its session).
        """
        previous = self.trace, self.cwd
        self._set_call(trace, cwd)
        try:
            if self.pooled and refresh:
                self.refresh()
            yield self
        finally:
            self._set_call(*previous)

    def _set_call(self, trace: TraceSink | None, cwd: Path | None) -> None:
        self.trace, self.cwd = trace, cwd
        if self._analyzer is not None:
            self._analyzer.trace, self._analyzer.cwd = trace, cwd

    def refresh(self) -> list[str]:
        """Re-sync the documents the session holds with the disk (an editor, git checkout)."""
        return self._analyzer.refresh() if self._analyzer is not None else []

    def close(self) -> None:
        """Stop the language server; the Workbench starts a fresh one if used again."""
        if self._analyzer is not None:
            analyzer, self._analyzer = self._analyzer, None
            analyzer.close()
        self._index = None

    def abandon(self) -> Analyzer | None:
        """Forget the analyzer (a call stuck in it cannot be stopped); the caller closes it."""
        analyzer, self._analyzer = self._analyzer, None
        return analyzer

    # -- services ----------------------------------------------------------------------------
    def prm(self, choice: str, device: str = "auto") -> tuple[Any, str | None]:
        """The learned PRM for ``--prm`` (loaded once per Workbench; a miss is asked again)."""
        from codeprm.analysis.learned import prm_key

        if choice == "none":
            return None, "disabled (--prm none)"
        key = prm_key(choice, device)
        if key in self._scorers:
            return self._scorers[key], None
        scorer, why_not = self.prm_loader(choice, device)
        if scorer is not None:
            self._scorers[key] = scorer
        return scorer, why_not

    def engine(self, scorer: Any = None, **options: Any) -> StepEngine:
        """A step engine over the warm analyzer (weights, formula, PRM, execution facts ...)."""
        from codeprm.analysis.step import StepEngine

        return StepEngine(self.analyzer, scorer=scorer, **options)

    def index(self) -> WorkspaceIndex:
        """The selector index: the warm one (``warm_index``), else a fresh lazy one."""
        from codeprm import selectors
        from codeprm.workspace.textstore import TextStore

        if not self.warm_index:
            return selectors.WorkspaceIndex(self.root, scan=False, archive=TextStore(self.root))
        if self._index is None:
            self._index = selectors.WorkspaceIndex(self.root, archive=TextStore(self.root))
        else:
            self._index.refresh()
        return self._index

    def file(self, given: str | Path) -> Path:
        return self.analyzer.file(given)

    def _record(self, bundle: dict[str, Any]) -> dict[str, Any]:
        if self.trace is not None:
            self.trace.bundle(bundle)
        return bundle

    # -- navigation --------------------------------------------------------------------------
    def diag(self, files: Sequence[str | Path] = ()) -> dict[str, Any]:
        """Diagnostics of ``files``, or of every Python file of the workspace."""
        return self.analyzer.diagnostics(list(files))

    def skipped(self) -> list[tuple[Path, str]]:
        """Files the last workspace-wide walk left out, with the reason."""
        return list(self._analyzer.skipped) if self._analyzer is not None else []

    def definition(self, selector: str, index_io: str = "utf-16") -> dict[str, Any]:
        return self.analyzer.definition(selector, index_io)

    def references(self, selector: str, index_io: str = "utf-16") -> dict[str, Any]:
        return self.analyzer.references(selector, index_io)

    def hover(self, selector: str, index_io: str = "utf-16") -> dict[str, Any]:
        return self.analyzer.hover(selector, index_io)

    def symbols(self, file: str) -> dict[str, Any]:
        return self.analyzer.symbols(file)

    def locate(self, selector: str, index_io: str = "utf-16", *, bundle: bool = True) -> Located:
        """Resolve a selector with tree-sitter (no server); the text is remembered for ``?v=``.

        ``bundle=False`` skips building the envelope (a human rendering does not show it).
        """
        import time

        from codeprm import selectors
        from codeprm.workspace.textstore import TextStore

        started = time.perf_counter()
        index = self.index()
        res = selectors.resolve(selector, index, index_io=index_io)
        resolved = index.file(res.path)
        if resolved is not None and isinstance(index.archive, TextStore):
            index.archive.remember(res.path, resolved.text)  # a later ?v= of this text relocates
        made: dict[str, Any] | None = None
        if bundle:
            from codeprm.analysis.locate import locate_bundle

            made = self._record(locate_bundle(index, res, started))
        return Located(made, res, index)

    # -- scoring -----------------------------------------------------------------------------
    def step(
        self,
        edit: str,
        *,
        confidence: float = 1.0,
        scorer: Any = None,
        write: ApplyOptions | None = None,
        **options: Any,
    ) -> StepOutcome:
        """Score one edit in memory; with ``write``, then write it (refused when unsafe)."""
        from codeprm.analysis.step import plan_edit, score_edit

        outcome = score_edit(self.engine(scorer, **options), edit, confidence=confidence)
        if write is not None:
            bundle = outcome.bundle
            if not bundle["facts"]["safety"]["passed"]:
                raise WriteDeniedError(
                    "refusing to apply an edit that failed the safety checks: "
                    + "; ".join(bundle["facts"]["safety"]["reasons"].values())
                )
            from codeprm.workspace import apply_change

            apply_change(self.root, plan_edit(self.root, edit, write), options=write)
        return outcome

    def start_episode(self, **options: Any) -> Episode:
        """An episode at the workspace as it is on disk (multi-turn scoring in memory)."""
        from codeprm.analysis.episode import Episode

        return Episode.start(self.engine(None, **options))

    def advance(
        self,
        episode: Episode,
        edit: str,
        *,
        scorer: Any = None,
        confidence: float = 1.0,
        **options: Any,
    ) -> dict[str, Any]:
        """Score one step of an episode from the state its earlier steps left; its bundle."""
        return episode.advance(self.engine(scorer, **options), edit, confidence=confidence)

    def score_trajectory(
        self,
        steps: Sequence[TrajectoryStep],
        *,
        scorer: Any = None,
        on_bundle: Callable[[dict[str, Any]], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        premeasure: Premeasure | None = None,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """Score a trajectory's steps from the state it first saw; bundles in order.

        ``premeasure(states, covered, selection)`` measures every state elsewhere (Ray
        actors, in parallel: ``distributed.states``) and answers the diagnostics per state
        and the execution facts by memo key; scoring then combines them here, so the
        bundles are the ones measuring here would give."""
        from codeprm.analysis.trajectory import plan, scope, score, seed_base, states

        engine = self.engine(scorer, **options)
        base = seed_base(engine.workspace_texts(), steps)
        if premeasure is not None:
            planned = plan(engine.root, base, steps)
            covered, selection = scope(engine, planned)
            todo = states(base, planned)
            located, exec_facts = premeasure(todo, covered, selection)
            engine.measured.update(
                (engine.measure_key(t, covered), list(loc))
                for t, loc in zip(todo, located, strict=True)
            )
            engine.exec_memo = {**exec_facts}  # unbounded: every state's facts are kept
        return score(
            engine,
            base,
            steps,
            on_bundle=on_bundle,
            on_progress=on_progress,
        )

    def score_range(
        self,
        history: History,
        *,
        scorer: Any = None,
        on_bundle: Callable[[dict[str, Any]], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """Score every commit of a range (``workspace.history.commit_steps``) as one step.

        The server runs in a scratch checkout that moves commit by commit (its own
        session, recorded into this call's trace), not in the warm one.
        """
        from codeprm.analysis.revrange import score_range
        from codeprm.analysis.step import StepEngine

        return score_range(
            self.root,
            history,
            lambda an: StepEngine(an, scorer=scorer, **options),
            python=self.python,
            timeout=self.timeout,
            on_bundle=on_bundle,
            on_progress=on_progress,
            trace=self.trace,
            replay_frames=self.replay_frames,
        )

    def rank(
        self,
        file: str | Path,
        candidates: Sequence[Candidate],
        *,
        task: str = "",
        scorer: Any = None,
        prm_weight: float = 1.0,
        prm_form: str | None = None,
        **options: Any,
    ) -> list[Ranked]:
        """Candidates of one file from the disk's text, best first (the engine is not modified)."""
        from codeprm.analysis.rank import rank

        return rank(
            self.engine(**options),
            self.file(file),
            candidates,
            task=task,
            scorer=scorer,
            prm_weight=prm_weight,
            prm_form=prm_form,
        )

    # -- edits -------------------------------------------------------------------------------
    def planner(self) -> Any:
        from codeprm.analysis.edits import EditPlanner

        return EditPlanner(self.analyzer)

    def rename(
        self,
        selector: str,
        new_name: str,
        index_io: str = "utf-16",
        *,
        write: ApplyOptions | None = None,
        allow_ambiguous: bool = False,
    ) -> tuple[Planned, dict[str, Any] | None]:
        """Plan a rename; with ``write`` also write it. Returns the plan and what was written."""
        planner = self.planner()
        planned = planner.rename(selector, new_name, index_io)
        written = None
        if write is not None:
            written = planner.write(
                planned, write, planned.bundle["resolution"]["confidence"], allow_ambiguous
            )
        return planned, written

    def actions(self, selector: str, index_io: str = "utf-16") -> dict[str, Any]:
        return self.planner().actions(selector, index_io)

    def apply(
        self, edit: str, *, write: ApplyOptions | None = None
    ) -> tuple[Planned, dict[str, Any] | None]:
        """Preview an edit (diff or WorkspaceEdit); with ``write`` write it atomically."""
        planner = self.planner()
        planned = planner.edit(edit)
        written = planner.write(planned, write) if write is not None else None
        return planned, written

    def apply_three_way(self, diff: str, write: ApplyOptions) -> Any:
        """Merge a diff into the worktree through ``git apply --3way`` (conflicts: 70)."""
        from codeprm.workspace import apply_diff

        return apply_diff(self.root, diff, options=write, three_way=True)

    # -- the planning loop -------------------------------------------------------------------
    def repair(
        self,
        files: Iterable[str],
        test_cmd: str,
        *,
        scorer: Any = None,
        prm_weight: float = 1.0,
        prm_form: str = "potential-v1",
        exec_mode: str = "doctest",
        weights: Any = None,
        budget: int = 20,
        beam: int = 1,
        order: str = "reward",
        llm: tuple[str, str] | None = None,
        test_timeout: float = 120.0,
        test_memory_mb: float = 4096.0,
        record_to: Path | None = None,
        write: ApplyOptions | None = None,
    ) -> RepairResult:
        """Repair ``files`` until ``test_cmd`` passes (candidates tried best reward first).

        ``record_to``: a JSONL file of every scored candidate and test run; ``write``:
        write the fix found into the workspace (atomically, inside the jail).
        """
        from codeprm.agents.loop import RepairLoop, check_paths
        from codeprm.agents.proposers import LLMProposer, MutationRepairs, QuickFixes
        from codeprm.agents.verify import Sandbox

        paths = check_paths(self.root, list(files))
        record = record_to.open("w", encoding="utf-8") if record_to else None
        try:
            with Sandbox(self.root, test_cmd, test_timeout, test_memory_mb) as sandbox:
                proposers: list[Any] = [MutationRepairs(), QuickFixes(self.analyzer)]
                if llm is not None:
                    proposers.append(LLMProposer(*llm))
                engine = self.engine(
                    prm_form=prm_form,
                    exec_mode=exec_mode,
                    **({"weights": weights} if weights is not None else {}),
                )
                loop = RepairLoop(
                    engine,
                    proposers,
                    sandbox,
                    scorer=scorer,
                    prm_weight=prm_weight,
                    budget=budget,
                    beam=beam,
                    order=order,
                    record=record,
                )
                result = loop.repair(paths)
        finally:
            if record is not None:
                record.close()
        if result.fixed and write is not None:
            from codeprm.workspace import WorkspaceChange, apply_change

            assert result.fix is not None
            old = (self.root / result.fix.path).read_text("utf-8")
            apply_change(
                self.root,
                WorkspaceChange.between(
                    {result.fix.path: old}, {result.fix.path: result.fix.new_text}
                ),
                options=write,
            )
        return result


def candidates_from(rows: Sequence[Any]) -> list[Candidate]:
    """Candidates given as objects ({"id", "new_text"} or {"id", "diff"}); a bad one gets its own
    error."""
    from codeprm.analysis.rank import candidate_from

    if not rows:
        raise UsageError("rank_edits needs at least one candidate")
    seen: set[str] = set()
    return [candidate_from(row, number, seen) for number, row in enumerate(rows, 1)]


@dataclass
class WorkbenchPool:
    """Warm Workbenches by (workspace, interpreter): what a daemon keeps between requests."""

    timeout: float = 60.0
    _benches: dict[tuple[Path, Path | None], Workbench] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, root: Path, python: Path | None = None, timeout: float = 60.0) -> Workbench:
        """The pooled Workbench of (root, python), created on first use."""
        key = (root.resolve(), python)
        with self._lock:
            bench = self._benches.get(key)
            if bench is None:
                bench = self._benches[key] = Workbench(
                    root=root, python=python, timeout=timeout, pooled=True
                )
        return bench  # its first call's timeout holds (the session was configured with it)

    def benches(self) -> list[Workbench]:
        with self._lock:
            return list(self._benches.values())

    def close(self) -> None:
        for bench in self.benches():
            with suppress(Exception):  # best effort: the daemon is going away
                bench.close()
