"""The planning loop: observe, propose, score, select, verify, record; and `agent repair`.

One step of the loop: observe the state (the failing test output, diagnostics), ask
the proposers for candidates, score every candidate with the combined reward (one warm
session, ``analysis.rank``), and spend a budget of verifications (test runs in a
scratch copy) on the best first. With ``beam`` > 1 the loop goes one level deeper: the
best few candidates that did not pass become states of their own (early rejection:
only those whose deterministic reward is not below ``min_reward``: a candidate the
language server says breaks something is never verified). The trajectory (every scored
candidate, every test run) is recorded as JSONL as it happens. The user's files change
only when the caller applies the fix found.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from codeprm.agents.proposers import Observation, Proposal, dedupe
from codeprm.agents.verify import Sandbox, TestRun
from codeprm.analysis.rank import Candidate, rank
from codeprm.analysis.step import StepEngine
from codeprm.errors import CodeprmError, UsageError


@dataclass
class RepairResult:
    fixed: bool
    test_runs: int
    candidates: int
    fix: Proposal | None = None
    fix_reward: float | None = None
    depth: int = 0
    seconds: float = 0.0
    baseline: TestRun | None = None
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "fixed": self.fixed,
            "testRuns": self.test_runs,
            "candidates": self.candidates,
            "fix": None
            if self.fix is None
            else {
                "id": self.fix.id,
                "path": self.fix.path,
                "proposer": self.fix.proposer,
                "detail": self.fix.detail,
                "reward": self.fix_reward,
            },
            "depth": self.depth,
            "seconds": round(self.seconds, 3),
            "errors": self.errors,
        }


@dataclass
class RepairLoop:
    engine: StepEngine
    proposers: Sequence[Any]
    sandbox: Sandbox
    scorer: Any = None
    prm_weight: float = 1.0
    budget: int = 20
    beam: int = 1
    min_reward: float = -0.25
    order: str = "reward"  # "reward" (guided) or "proposer" (baseline)
    task: str = ""
    record: TextIO | None = None
    on_event: Callable[[dict[str, Any]], None] | None = None

    def _emit(self, event: dict[str, Any]) -> None:
        if self.record is not None:
            self.record.write(json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n")
            self.record.flush()
        if self.on_event is not None:
            self.on_event(event)

    def _propose(self, obs: Observation, errors: list[str]) -> list[Proposal]:
        proposals: list[Proposal] = []
        for proposer in self.proposers:
            try:
                proposals.extend(proposer.propose(obs))
            except CodeprmError as err:  # one proposer failing (an LLM endpoint down) is not fatal
                errors.append(f"{proposer.name}: {err.one_line()}")
        return dedupe(proposals)

    def _order(
        self, texts: dict[str, str], proposals: list[Proposal]
    ) -> list[tuple[Proposal, float | None, float | None]]:
        """(proposal, combined reward, deterministic reward), in the order to verify them."""
        if self.order == "proposer":
            return [(p, None, None) for p in proposals]
        by_path: dict[str, list[Proposal]] = {}
        for p in proposals:
            by_path.setdefault(p.path, []).append(p)
        scored: list[tuple[Proposal, float | None, float | None]] = []
        for path, group in by_path.items():
            # ranked by position, not by proposal id: two proposers may reuse an id
            candidates = [Candidate(str(n), n, new_text=p.new_text) for n, p in enumerate(group)]
            ranked = rank(
                self.engine,
                self.engine.root / path,
                candidates,
                task=self.task,
                scorer=self.scorer,
                prm_weight=self.prm_weight,
                base_text=texts[path],
            )
            scored.extend(
                (group[int(r.id)], r.reward, r.components.get("deterministic"))
                for r in ranked
                if r.reward is not None
            )
        scored.sort(key=lambda pr: (-(pr[1] or 0.0), pr[0].id))
        return scored

    def repair(self, paths: Sequence[str]) -> RepairResult:
        started = time.perf_counter()
        texts = {p: (self.engine.root / p).read_text("utf-8") for p in paths}
        self.sandbox.set_texts({})
        baseline, suspects = self.sandbox.called_functions(paths)
        called: dict[str, list[int]] = {}
        for s in suspects:
            if s.score > 0:  # never called by a failing test: not where the bug is
                called.setdefault(s.path, []).append(s.first_line - 1)
        result = RepairResult(False, 1, 0, baseline=baseline)
        if baseline.localizer_error is not None:  # the ranking degrades: say so in the result
            result.errors.append(f"localizer: {baseline.localizer_error}")
        self._emit(
            {
                "event": "baseline",
                "test": baseline.to_json(),
                "suspects": [[s.path, s.first_line, s.qualname, s.score] for s in suspects],
            }
        )
        if baseline.passed:
            result.errors.append("the tests already pass: nothing to repair")
            result.seconds = time.perf_counter() - started
            return result
        frontier: list[tuple[dict[str, str], str, float]] = [(texts, baseline.output_tail, 0.0)]
        for depth in range(1, (2 if self.beam > 1 else 1) + 1):
            next_frontier: list[tuple[dict[str, str], str, float]] = []
            for state, output, _ in frontier:
                proposals = self._propose(Observation(state, paths, output, called), result.errors)
                ordered = self._order(state, proposals)
                result.candidates += len(ordered)
                self._emit(
                    {
                        "event": "scored",
                        "depth": depth,
                        "candidates": [
                            {"id": p.id, "proposer": p.proposer, "reward": r, "deterministic": d}
                            for p, r, d in ordered
                        ],
                    }
                )
                for proposal, reward, deterministic in ordered:
                    if result.test_runs >= self.budget:
                        break
                    if deterministic is not None and deterministic < self.min_reward:
                        # early rejection: the language server says this step breaks something
                        continue
                    candidate_texts = {**state, proposal.path: proposal.new_text}
                    self.sandbox.set_texts(candidate_texts)
                    run = self.sandbox.run()
                    result.test_runs += 1
                    self._emit(
                        {
                            "event": "verified",
                            "depth": depth,
                            "id": proposal.id,
                            "reward": reward,
                            "test": run.to_json(),
                        }
                    )
                    if run.passed:
                        result.fixed, result.fix, result.fix_reward, result.depth = (
                            True,
                            proposal,
                            reward,
                            depth,
                        )
                        result.seconds = time.perf_counter() - started
                        self._emit({"event": "fixed", **result.to_json()})
                        return result
                    if len(next_frontier) < self.beam:
                        next_frontier.append((candidate_texts, run.output_tail, reward or 0.0))
            frontier = next_frontier
            if not frontier or result.test_runs >= self.budget:
                break
        result.seconds = time.perf_counter() - started
        self._emit({"event": "gave-up", **result.to_json()})
        return result


def fix_diff(root: Path, proposal: Proposal) -> str:
    from codeprm.workspace import WorkspaceChange, preview

    old = (root / proposal.path).read_text("utf-8")
    return preview(
        WorkspaceChange.between({proposal.path: old}, {proposal.path: proposal.new_text})
    )


def check_paths(root: Path, paths: Sequence[str]) -> list[str]:
    from codeprm.analysis import files

    out = []
    for given in paths:
        path = (root / given) if not Path(given).is_absolute() else Path(given)
        if not path.is_file():
            raise UsageError(f"{given}: no such file")
        out.append(files.relative(root, path))
    if not out:
        raise UsageError("name the files to repair")
    return out
