"""The MCP server: codeprm's diagnostics, selectors, step scoring, ranking and edits as tools.

One ``Workbench`` (``codeprm.workbench``: one workspace, one warm Analyzer, the selector
index, the learned PRM once loaded) serves the server's whole life: the language server starts on
the first tool call and is
closed when the client hangs up. Before every call the documents the session holds are
re-synced with the disk, so answers follow the edits an agent makes between calls.

Tools return structured JSON: analysis bundles, or small objects around them. A
``CodeprmError`` becomes an MCP tool error whose text is ``codeprm: error: <one line>
(exit N)`` and the server keeps serving; an unexpected exception too (exit 1).

Nothing but protocol may reach stdout: while serving, the SDK's stdio transport keeps
the wire on a private descriptor and points fd 1 at stderr (so stray prints, and
children, write to stderr); logging goes to stderr. This module never imports click:
the command line passes in how to load the PRM.

Written for the official MCP Python SDK 2.x (``mcp.server.mcpserver.MCPServer``, the
successor of v1's FastMCP).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Required, TypeVar

from typing_extensions import TypedDict  # pydantic reads typing's TypedDict only on 3.12+

from codeprm import workbench
from codeprm.errors import CodeprmError

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

log = logging.getLogger("codeprm.mcp")
T = TypeVar("T")

#: () -> (scorer or None, why not); the CLI binds ``codeprm.analysis.learned.load_prm`` to its
#: options.
PrmLoader = Callable[[], tuple[Any, str | None]]

INSTRUCTIONS = """\
codeprm checks code with real language servers (basedpyright for Python; TypeScript's
native server for TS/JS; clangd for C/C++) and scores edits.
Positions in results are 0-based (line, character in UTF-16 code units); selectors use
1-based lines and columns: pkg/app.py@L6:C23, pkg/app.py@R(6,12->6,20),
py://pkg.geometry#Point.norm:body, ast://[module=pkg.geometry]/[class=Point]/[def=norm],
ts://src/money.ts#add, ast://[module=src/money.ts]/[def=add], anchor://pkg/app.py#"area(".
Score an edit before writing it (score_edit, rank_edits, preview_rename); apply_edit writes.
A step reward below 0 means the edit introduced errors or warnings; facts.introduced lists them.
"""


class CandidateInput(TypedDict, total=False):
    """One candidate edit of the file: exactly one of ``new_text`` (the whole new file) or
    ``diff``."""

    id: Required[str]
    new_text: str
    diff: str


@dataclass
class Workbench(workbench.Workbench):
    """The server's Workbench: every tool is one of its operations, bounded and serialised by a
    lock."""

    pooled: bool = True
    warm_index: bool = True
    #: () -> (scorer or None, why not): how the PRM is loaded (the CLI binds ``--prm`` and
    #: ``--device``)
    load_prm: PrmLoader | None = None
    #: execution facts for rank_edits and score_edit: "none", "doctest" or "tests"
    exec_mode: str = "doctest"
    #: seconds one tool call may take in all (default 4x ``timeout``); past it, it is cancelled
    budget: float | None = None
    _prm: tuple[Any, str | None] | None = field(default=None, init=False, repr=False)
    # the SDK runs synchronous tools in worker threads; one session answers one call at a time
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _index_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.budget is None:
            self.budget = 4.0 * self.timeout

    def _call(self, tool: str, func: Callable[[], T], *, server: bool = True) -> T:
        """One tool call: it waits for the one before at most ``budget`` seconds plus the
        grace a cancelled call has to unwind, then runs at most ``budget``.

        Before it runs, the documents the session holds are re-synced with the disk. A
        tool that asks no server (``server=False``: locate) takes the index's own lock, so
        it never waits behind a language-server call. A call that runs past its budget
        is cancelled (a tool error, exit 73) and its lock released, so the next call is
        answered; one that cannot be cancelled (stuck in C) leaves its analyzer (or index)
        behind and the next call starts a fresh one.
        """
        from codeprm.agents import budget as budgets
        from codeprm.errors import CancelledError

        allowed = float(self.budget or 4.0 * self.timeout)
        lock = self._lock if server else self._index_lock
        # the call before holds the lock for its budget, then for as long as its
        # cancellation takes to unwind (at most the grace period): wait for both
        waited = allowed + budgets.GRACE
        if not lock.acquire(timeout=waited):
            raise CancelledError(
                f"{tool}: the workspace stayed busy with another tool call for {waited:g}s"
            )
        try:
            outcome = budgets.run(
                (lambda: (self.refresh(), func())[1]) if server else func, allowed, tool
            )
            if outcome.stuck and not server:
                log.error("%s; its selector index is dropped", outcome.error)
                self._index = None
            elif outcome.stuck:
                log.error("%s; its language server is abandoned", outcome.error)
                stuck = self.abandon()
                if stuck is not None:
                    threading.Thread(target=stuck.close, daemon=True).start()
            if outcome.error is not None:
                raise outcome.error
            return outcome.value  # type: ignore[return-value]
        finally:
            lock.release()

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self, wait: float = -1) -> None:
        """Stop the language server; after ``wait`` seconds (>= 0) even if a call is in flight."""
        held = self._lock.acquire(timeout=wait)
        try:
            super().close()
        finally:
            if held:
                self._lock.release()

    def scorer(self) -> Any:
        """The learned PRM, loaded on the first ranking (None when unavailable or disabled)."""
        if self._prm is None:
            self._prm = self.load_prm() if self.load_prm is not None else (None, "not configured")
            if self._prm[1]:
                log.warning("learned PRM not used: %s", self._prm[1])
        return self._prm[0]

    # -- tools -------------------------------------------------------------------------------
    def diagnostics(self, files: Sequence[str] = ()) -> dict[str, Any]:
        return self._call("diagnostics", lambda: self.diag(list(files)))

    def locate_tool(self, selector: str) -> dict[str, Any]:
        return self._call(
            "locate", lambda: self.locate(selector, bundle=False).resolution.to_json(), server=False
        )

    def rank_edits(
        self, file: str, candidates: Sequence[Mapping[str, Any]], task: str = ""
    ) -> list[dict[str, Any]]:
        from codeprm.analysis.learned import reward_weights

        cands = workbench.candidates_from(candidates)

        def call() -> list[dict[str, Any]]:
            scorer = self.scorer()
            weights, prm_weight = reward_weights(
                scorer, None, None
            )  # the checkpoint's fitted weights, if any
            return [
                r.to_json()
                for r in self.rank(
                    file,
                    cands,
                    task=task,
                    scorer=scorer,
                    prm_weight=prm_weight,
                    weights=weights,
                    exec_mode=self.exec_mode,
                )
            ]

        return self._call("rank_edits", call)

    def score_edit(self, edit: str) -> dict[str, Any]:
        return self._call("score_edit", lambda: self.step(edit, exec_mode=self.exec_mode).bundle)

    def preview_rename(self, selector: str, new_name: str) -> dict[str, Any]:
        def call() -> dict[str, Any]:
            planned, _ = self.rename(selector, new_name)
            return {"diff": planned.diff, "bundle": planned.bundle}

        return self._call("preview_rename", call)

    def apply_edit(self, edit: str, allow_dirty: bool = False) -> dict[str, Any]:
        from codeprm.workspace import ApplyOptions

        def call() -> dict[str, Any]:
            planned, written = self.apply(edit, write=ApplyOptions(allow_dirty=allow_dirty))
            return {"written": written, "diff": planned.diff, "bundle": planned.bundle}

        return self._call("apply_edit", call)


candidates_from = workbench.candidates_from


def tool_error_text(err: BaseException) -> str:
    """The text of a failed tool call: codeprm's one line and its exit code."""
    if isinstance(err, CodeprmError):
        return f"codeprm: error: {err.one_line()} (exit {err.exit_code})"
    return (
        f"codeprm: error: internal error: {type(err).__name__}: {' '.join(str(err).split())} "
        "(exit 1)"
    )


@contextmanager
def _as_tool_errors(tool: str) -> Iterator[None]:
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        yield
    except CodeprmError as err:
        log.info("%s failed: %s", tool, err.one_line())
        raise ToolError(tool_error_text(err)) from err
    except Exception as err:  # a bug of ours: one line for the client, the traceback on stderr
        log.exception("%s raised an unexpected exception", tool)
        raise ToolError(tool_error_text(err)) from err


def build_server(bench: Workbench) -> MCPServer[Any]:
    """An ``MCPServer`` whose tools call ``bench``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    from codeprm import __version__

    server = MCPServer(
        name="codeprm", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    read_only = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )

    @server.tool(
        annotations=read_only,
        description=(
            "Errors, warnings and information of the given Python files (workspace-relative "
            "paths), or of the whole workspace when none are given. Returns a diagnostics "
            "bundle: facts.diagnostics, facts.counts."
        ),
    )
    def diagnostics(files: list[str] = []) -> dict[str, Any]:  # noqa: B006 (the SDK copies defaults)
        with _as_tool_errors("diagnostics"):
            return bench.diagnostics(files)

    @server.tool(
        annotations=read_only,
        description=(
            "Resolve a selector to a file and a 0-based UTF-16 range, with a confidence in [0, "
            "1] and the alternatives considered. Selectors: path@L6:C23 (cursor), "
            "path@R(6,12->6,20) (range), py://pkg.mod#Class.method[:def|sig|body|doc] (symbol), "
            'ast://[module=pkg.mod]/[class=C]/[def=m], anchor://path#"text".'
        ),
    )
    def locate(selector: str) -> dict[str, Any]:
        with _as_tool_errors("locate"):
            return bench.locate_tool(selector)

    @server.tool(
        annotations=read_only,
        description=(
            "Rank candidate edits of one file, best first, by the step reward (deterministic, "
            'plus the learned PRM when available). Each candidate is {"id", "new_text"} (the '
            'whole new file) or {"id", "diff"} (a unified diff); all start from the file as it '
            "is on disk; nothing is written. Returns the list codeprm rank --json prints: {id, "
            "reward, components, bundleId, introduced, fixed}; a candidate that cannot be scored "
            "has reward null and an error."
        ),
    )
    def rank_edits(
        file: str, candidates: list[CandidateInput], task: str = ""
    ) -> list[dict[str, Any]]:
        with _as_tool_errors("rank_edits"):
            return bench.rank_edits(file, [dict(c) for c in candidates], task)

    @server.tool(
        annotations=read_only,
        description=(
            "Score one edit (a unified diff, or an LSP WorkspaceEdit as JSON text) as a step, in "
            "memory: diagnostics before and after over the edited files and their importers, "
            "what it introduced and fixed, and the reward (processReward.total; negative means "
            "it made things worse). Nothing is written."
        ),
    )
    def score_edit(edit: str) -> dict[str, Any]:
        with _as_tool_errors("score_edit"):
            return bench.score_edit(edit)

    @server.tool(
        annotations=read_only,
        description=(
            "Plan renaming the symbol at a selector to new_name everywhere in the workspace (the "
            "language server's rename, refused when it would clash or introduce diagnostics). "
            "Returns {diff, bundle}; nothing is written (apply the diff with apply_edit)."
        ),
    )
    def preview_rename(selector: str, new_name: str) -> dict[str, Any]:
        with _as_tool_errors("preview_rename"):
            return bench.preview_rename(selector, new_name)

    @server.tool(
        annotations=ToolAnnotations(
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=False,
            open_world_hint=False,
        ),
        description=(
            "Write an edit (a unified diff, or an LSP WorkspaceEdit as JSON text) "
            "atomically inside "
            "the workspace. Refused on a git worktree with uncommitted changes unless allow_dirty. "
            "Returns {written: {txid, files}, diff, bundle (with facts.introduced / facts.fixed)}."
        ),
    )
    def apply_edit(edit: str, allow_dirty: bool = False) -> dict[str, Any]:
        with _as_tool_errors("apply_edit"):
            return bench.apply_edit(edit, allow_dirty)

    return server


def serve(bench: Workbench) -> None:
    """Serve MCP over stdin/stdout until the client hangs up; then close the language server.

    SIGTERM and SIGINT stop the server at once (exit 128 + signal number), language server
    included: the stdio transport reads stdin in a thread that no cancellation interrupts,
    so unwinding the event loop would wait for the client to close stdin.
    """
    import os
    import signal

    import anyio

    server = build_server(bench)

    def stop(signum: int, frame: object) -> None:
        bench.close(wait=5.0)
        os._exit(128 + signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        anyio.run(server.run_stdio_async)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        bench.close()
