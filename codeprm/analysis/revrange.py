"""Scoring a commit range: every state is a commit's tree, measured as a checkout of it.

The steps come from git objects (``workspace.history``) and hold every tracked file, so
each applies exactly as git applied it. Each state is measured over every Python file a
checkout of that commit holds (what ``codeprm diag`` walks there), with the server
rooted in a scratch checkout (``workspace.checkout``) that moves from commit to commit:
the server's view of the disk (which modules exist) is that commit's, never the
working tree's. The interpreter is the one the real workspace resolves imports with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from codeprm.analysis import files
from codeprm.analysis.navigate import Analyzer
from codeprm.analysis.step import StepEngine
from codeprm.analysis.trajectory import TrajectoryStep, score
from codeprm.bundles.trace import TraceSink
from codeprm.workspace.checkout import ScratchCheckout
from codeprm.workspace.history import History, is_opaque


def range_steps(history: History) -> list[TrajectoryStep]:
    """One trajectory step per commit, with the commit, its subject and mode-only changes."""
    return [
        TrajectoryStep(
            c.change,
            1.0,
            {
                "commit": c.sha,
                "subject": c.subject,
                **({"modeChanges": list(c.modes)} if c.modes else {}),
            },
        )
        for c in history.steps
    ]


def checked_paths(history: History) -> list[str]:
    """Every path that is, in some state, a source a checkout's ``diag`` would read (Python,
    and the languages whose marker file some state has at its root)."""
    from codeprm import languages

    seen: dict[str, bool] = {}
    every = set(history.base_texts)
    for step in history.steps:
        every.update(step.change.new_texts())
    langs = languages.detected_in(frozenset(every))

    def note(texts: dict[str, str]) -> None:
        for path, text in texts.items():
            if files.is_walked(path) or languages.is_walked(path, langs):
                seen[path] = seen.get(path, True) and not is_opaque(text)

    note(history.base_texts)
    for step in history.steps:
        note(step.change.new_texts())
    return sorted(p for p, ok in seen.items() if ok)


def server_config(root: Path) -> str:
    """The workspace's own server configuration: pyrightconfig.json, or pyproject's tool tables."""
    import json
    import tomllib

    parts = []
    try:
        parts.append((root / "pyrightconfig.json").read_text("utf-8", "replace"))
    except OSError:
        parts.append("")
    try:
        tool = tomllib.loads((root / "pyproject.toml").read_text("utf-8")).get("tool", {})
        parts.append(
            json.dumps(
                {k: tool.get(k) for k in ("pyright", "basedpyright")}, sort_keys=True, default=str
            )
        )
    except (OSError, ValueError):
        parts.append("")
    for name in ("tsconfig.json", "jsconfig.json", "compile_commands.json", "compile_flags.txt"):
        try:  # the TypeScript server and clangd read these at start too
            parts.append((root / name).read_text("utf-8", "replace"))
        except OSError:
            parts.append("")
    return "\0".join(parts)


@contextmanager
def range_analyzer(
    root: Path,
    history: History,
    python: Path | None,
    timeout: float,
    trace: TraceSink | None = None,
    replay_frames: tuple[tuple[str, str], ...] | None = None,
) -> Iterator[tuple[Analyzer, Callable[[int], None]]]:
    """An analyzer rooted in a scratch checkout of the range's base, and the ``on_state`` that moves
    it."""
    from codeprm.lsp.servers import find_target_python

    interpreter = find_target_python(root, python)
    head = history.steps[-1].sha if history.steps else ""
    key = f"{Path(root).resolve()}\0{history.base_sha}\0{head}"
    with (
        ScratchCheckout(history.git_dir, history.base_tree, key) as checkout,
        Analyzer(
            root=checkout.root,
            python=interpreter,
            timeout=timeout,
            traced_root=Path(root).resolve(),
            trace=trace,
            replay_frames=replay_frames,
            mirror_states=False,
        ) as an,
    ):
        at = [0]

        config = server_config(checkout.root)

        def on_state(k: int) -> None:
            nonlocal config
            while at[0] < k:
                events = checkout.apply(history.steps[at[0]].tree)
                at[0] += 1
                if config != (config := server_config(checkout.root)):
                    an.close()  # the server reads its configuration at start: a fresh one
                    an.measure_cache.clear()
                elif events:
                    an.session.files_changed(events)

        yield an, on_state


def score_range(
    root: Path,
    history: History,
    make_engine: Callable[[Analyzer], StepEngine],
    *,
    python: Path | None = None,
    timeout: float = 60.0,
    on_bundle: Callable[[dict[str, Any]], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    trace: TraceSink | None = None,
    replay_frames: tuple[tuple[str, str], ...] | None = None,
) -> list[dict[str, Any]]:
    """Score every commit of ``history`` as one step; bundles in order (recorded into ``trace``).

    ``replay_frames``: the session answers from a recording (``codeprm trace replay``).
    """
    with range_analyzer(root, history, python, timeout, trace, replay_frames) as (an, on_state):
        return score(
            make_engine(an),
            history.base_texts,
            range_steps(history),
            on_bundle=on_bundle,
            on_progress=on_progress,
            cover=checked_paths(history),
            on_state=on_state,
        )
