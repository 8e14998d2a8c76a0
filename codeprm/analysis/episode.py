"""An episode: a trajectory scored as it happens, one step at a time, in memory.

A multi-turn RL environment (SkyRL, a verl tool) needs the reward of each turn's edit
when it is made, from the state the earlier turns left, not the state on disk. An
``Episode`` holds that state (the texts, their diagnostics, the facts, the guard's
ledger) and nothing warm: each ``advance`` is given the ``StepEngine`` (a warm session)
to measure with, so any bench of the same commit can serve any episode.

Every Python file of the state is measured (a file a step creates joins the measured
set; absent before, it counted nothing then), so the deterministic and learned terms of
an episode telescope exactly: the sum of its rewards is Phi(end) - Phi(start). The
execution term, when on, is measured per step over that step's selection, as
``codeprm step`` does. Files the edit touches that the state does not hold yet (a README)
are read from the tree as text. Edits are unified diffs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import Any

from codeprm.analysis.step import Safety, StepEngine, parse_edit
from codeprm.errors import CodeprmError, UsageError, WriteDeniedError
from codeprm.rewards import Facts
from codeprm.rewards.guard import Ledger
from codeprm.rewards.identity import Located, counts
from codeprm.selectors.modules import is_python_path
from codeprm.workspace.diffs import parse_unified_diff, resolve_patch
from codeprm.workspace.edits import WorkspaceChange, apply_to_texts
from codeprm.workspace.jail import Jail

_MAX_TEXT = 16 << 20


@dataclasses.dataclass
class Episode:
    """The state of one trajectory between its steps (see the module docstring)."""

    texts: dict[str, str]
    cover: list[str]
    located: list[Located]
    facts: Facts
    ledger: Ledger = dataclasses.field(default_factory=Ledger)
    steps: int = 0
    total: float = 0.0

    @classmethod
    def start(cls, engine: StepEngine) -> Episode:
        """The episode at the tree as it is on disk."""
        texts = engine.workspace_texts()
        cover = sorted(p for p in texts if is_python_path(p))
        located = engine.measure(texts, cover)
        c = counts(located)
        return cls(dict(texts), cover, located, Facts(c["error"], c["warning"], True, 1.0))

    def _read_missing(self, engine: StepEngine, paths: list[str]) -> dict[str, str]:
        """The state plus the touched files it does not hold, read from the tree as text
        (inside the jail, never through a symlink, at most 16 MiB)."""
        state = dict(self.texts)
        jail = Jail.at(engine.root)
        root = engine.root.resolve()
        for path in paths:
            if path in state:
                continue
            try:
                full = engine.root / jail.normalise(path)
                if (
                    full.is_symlink()
                    or not full.is_file()
                    or not full.resolve().is_relative_to(root)
                ):
                    continue
                if full.stat().st_size <= _MAX_TEXT:
                    state[path] = full.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError, CodeprmError):
                continue  # not text we can hold: the patch will say it does not apply
        return state

    def advance(
        self,
        engine: StepEngine,
        edit: str,
        *,
        confidence: float = 1.0,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Score one step from the current state and move to the state after it; the
        step's bundle. An edit that is malformed or does not apply raises (the state is
        unchanged); one that leaves the jail is scored unsafe and changes nothing."""
        started = time.perf_counter()
        with engine.clock.timed("apply"):
            kind, payload = parse_edit(edit)
            if kind != "diff":
                raise UsageError("an episode step is a unified diff")
            patch = parse_unified_diff(payload)
            paths = sorted({p for fp in patch.files for p in (fp.old_path, fp.new_path) if p})
            checks, reasons = {"jail": True, "cleanApply": True}, {}
            change: WorkspaceChange | None = None
            before: dict[str, str] = self.texts
            try:
                jail = Jail.at(engine.root)
                for path in paths:
                    jail.normalise(path)
            except WriteDeniedError as err:
                checks["jail"], reasons["jail"] = False, err.one_line()
            if checks["jail"]:
                before = self._read_missing(engine, paths)
                change = resolve_patch(
                    patch, before
                )  # ApplyConflictError / ContentModifiedError: nothing moves
            after = apply_to_texts(before, change) if change is not None else before
            cover = sorted(
                set(self.cover) | {p for p in after if is_python_path(p) and p not in self.texts}
            )
        exec_selection = exec_before = None
        facts_before = self.facts
        if change is not None and engine.exec_mode != "none":
            exec_selection = engine.exec_selection(before, after, change.paths)
            if exec_selection is not None:
                exec_before = engine.run_exec(before, exec_selection)
                facts_before = dataclasses.replace(self.facts, failing_tests=exec_before.failed)
        edit_sha = hashlib.sha256(edit.encode("utf-8", "surrogatepass")).hexdigest()
        outcome = engine.step(
            before,
            after,
            change,
            self.located,
            facts_before,
            safety=Safety(checks, reasons),
            confidence=confidence,
            cover=cover,
            request={
                "operation": "episode",
                "params": {"stepIndex": self.steps, "editSha256": edit_sha},
                "meta": meta or {},
            },
            started=started,
            ledger=self.ledger,
            exec_selection=exec_selection,
            exec_before=exec_before,
        )
        self.texts, self.cover, self.located = dict(outcome.texts), cover, outcome.located
        self.facts = dataclasses.replace(outcome.facts, failing_tests=None)
        self.steps += 1
        self.total += float(outcome.bundle["processReward"]["total"])
        return outcome.bundle
