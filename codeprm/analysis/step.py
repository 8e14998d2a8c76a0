"""Scoring edit steps in memory: facts before and after, their delta, and the reward.

A step is a ``WorkspaceChange`` applied to a snapshot of texts held in memory; nothing
on disk changes. The engine syncs the before texts into the warm session, pulls the
diagnostics of every covered file (the edited files and every file that imports them,
so cross-file breakage counts), then syncs the after texts and pulls again. Diagnostics
are matched by position-free identity (``rewards.identity``) and the reward is the
potential-based functional of ``rewards.functional``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeprm.analysis import files, structure
from codeprm.analysis.navigate import Analyzer
from codeprm.bundles import make_bundle
from codeprm.errors import CodeprmError
from codeprm.rewards import DEFAULT_FORMULA, Facts, Weights, step_reward
from codeprm.rewards.identity import Located, counts, delta, renamed_identifiers
from codeprm.selectors.modules import is_python_path
from codeprm.workspace.edits import WorkspaceChange, apply_to_texts


def texts_digest(texts: Mapping[str, str]) -> str:
    """sha256 over (path, sha256(text)) of a snapshot held in memory, in path order."""
    h = hashlib.sha256()
    for path in sorted(texts):
        content = hashlib.sha256(texts[path].encode("utf-8", "surrogatepass")).hexdigest()
        h.update(f"{path}\0{content}\n".encode())
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class Safety:
    """The safe-apply checks of one step, each passed or not, with why."""

    checks: Mapping[str, bool] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def to_json(self) -> dict[str, Any]:
        return {"checks": dict(sorted(self.checks.items())), "reasons": dict(sorted(self.reasons.items())), "passed": self.passed}


@dataclass(frozen=True)
class StepOutcome:
    bundle: dict[str, Any]
    texts: dict[str, str]  # the snapshot after the step (unchanged when it was refused)
    facts: Facts
    located: list[Located]  # the diagnostics of that snapshot


@dataclass
class StepEngine:
    """Scores steps over one warm session; keeps no state but the session's documents."""

    analyzer: Analyzer
    weights: Weights = field(default_factory=Weights)
    formula: str = DEFAULT_FORMULA
    #: the learned PRM (``codeprm.prm.infer.Scorer``) or None for the deterministic reward alone
    scorer: Any = None
    prm_weight: float = 1.0
    task: str = ""

    @property
    def root(self) -> Path:
        return self.analyzer.root

    def workspace_texts(self) -> dict[str, str]:
        """Every readable Python source of the workspace as it is on disk now."""
        out = {}
        for path in files.iter_python_files(self.root):
            try:
                out[files.relative(self.root, path)] = files.read_source(path)
            except CodeprmError:  # an unreadable file is not ours to score; it is simply absent
                continue
        return out

    def covered(self, before: Mapping[str, str], after: Mapping[str, str], changed: Iterable[str]) -> list[str]:
        """The edited Python files and every file importing them, before or after."""
        changed = [p for p in changed if is_python_path(p)]
        cover = set(changed) | structure.importers(before, changed) | structure.importers(after, changed)
        return sorted(cover)

    def measure(self, texts: Mapping[str, str], covered: Iterable[str]) -> list[Located]:
        """Diagnostics of the covered files in the snapshot, each with its enclosing symbol.

        The session is first made to mirror the snapshot: every open document that
        differs from it is re-synced (or closed when the snapshot lacks it), so no text
        of another state can leak into cross-file facts. A snapshot measured recently
        over the same files is answered from memory (diagnostics are a pure function of
        the texts, the server and its settings, all fixed for one engine).
        """
        cover = sorted(set(covered))
        key = (texts_digest(texts), tuple(cover))
        memo = self.analyzer.measure_cache
        if key in memo:
            return list(memo[key])
        session = self.analyzer.session
        for abs_path, held in session.session.open_documents().items():
            try:
                rel = abs_path.resolve().relative_to(self.root).as_posix()
            except ValueError:
                continue
            if rel not in texts:
                session.close_document(abs_path)
            elif texts[rel] != held:
                session.sync(abs_path, texts[rel])
        present = [p for p in cover if p in texts]
        for path in present:  # sync the whole snapshot first: cross-file facts need it
            session.sync(self.root / path, texts[path])
        out: list[Located] = []
        for path in present:
            diags = session.diagnostics(self.root / path)
            names = structure.enclosing(texts[path], (d.range.start for d in diags))
            out.extend(Located(d, name) for d, name in zip(diags, names, strict=True))
        out.sort(key=lambda x: x.diagnostic.sort_key())
        if len(memo) >= 8:  # a few recent states: rank and the daemon measure the same start again
            memo.pop(next(iter(memo)))
        memo[key] = list(out)
        return out

    def score(
        self,
        before: Mapping[str, str],
        change: WorkspaceChange | None,
        *,
        safety: Safety,
        confidence: float = 1.0,
        request: Mapping[str, Any] | None = None,
    ) -> StepOutcome:
        """Score one step from the snapshot ``before``.

        ``change`` None means the step was refused (it failed a safety check before it
        could be resolved): the snapshot stays as it is and only S and c move. The
        state before is taken as safe with confidence 1.
        """
        started = time.perf_counter()
        after = dict(before) if change is None or not safety.passed else apply_to_texts(before, change)
        changed = list(change.paths) if change is not None else []
        cover = self.covered(before, after, changed)
        located_before = self.measure(before, cover)
        c = counts(located_before)
        return self.step(
            before, after, change, located_before, Facts(c["error"], c["warning"], True, 1.0),
            safety=safety, confidence=confidence, cover=cover, request=request or {}, started=started,
        )

    def step(
        self,
        before: Mapping[str, str],
        after: Mapping[str, str],
        change: WorkspaceChange | None,
        located_before: list[Located],
        facts_before: Facts,
        *,
        safety: Safety,
        confidence: float,
        cover: list[str],
        request: Mapping[str, Any],
        started: float,
    ) -> StepOutcome:
        """Measure the state after a step whose state before is already measured."""
        located_after = self.measure(after, cover)
        renames = renamed_identifiers((before.get(q, ""), after.get(q, "")) for q in change.paths if is_python_path(q)) if change is not None else {}
        moved = {e.renamed_from: e.path for e in change.edits if e.renamed_from} if change is not None else {}
        d = delta(located_before, located_after, renames, moved)
        c_before, c_after = counts(located_before), counts(located_after)
        facts_after = Facts(c_after["error"], c_after["warning"], safety.passed, confidence)
        reward = step_reward(facts_before, facts_after, self.weights, self.formula)
        if self.scorer is not None and change is not None and safety.passed:
            reward = add_prm(reward, prm_inputs(before, after, change, self.task), self.scorer, self.prm_weight)
        facts = {
            "covered": cover,
            # counts only: listing every diagnostic of both states would repeat the previous
            # step's list in each bundle; what changed is in introduced / fixed
            "before": {"counts": c_before},
            "after": {"counts": c_after},
            **d.to_json(),
            "safety": safety.to_json(),
            "confidence": confidence,
        }
        params = {"weights": self.weights.to_json(), "formula": self.formula, **request.get("params", {})}
        bundle = make_bundle(
            request={
                "operation": request.get("operation", "step"),
                "workspaceDigest": texts_digest(before),
                "targets": list(change.paths) if change is not None else [],
                "selector": request.get("selector"),
                "params": params,
            },
            facts=facts,
            edits=change.to_json() if change is not None else [],
            process_reward=reward,
            environment=self.analyzer.environment(),
            capabilities=self.analyzer.session.info.capabilities,
            meta={**self.analyzer.meta(started), **request.get("meta", {})},
        )
        return StepOutcome(bundle=bundle, texts=dict(after), facts=facts_after, located=located_after)


def prm_inputs(before: Mapping[str, str], after: Mapping[str, str], change: WorkspaceChange, task: str = "") -> list[dict[str, str]]:
    """What the PRM reads of a step: the edited region of each changed Python file."""
    from codeprm.analysis.regions import edited_region

    out = []
    for path in change.paths:
        if not is_python_path(path):
            continue
        region = edited_region(before.get(path, ""), after.get(path, ""))
        if region is not None:
            out.append({"path": path, "before": region.before, "after": region.after, "context": region.context, "task": task})
    return out


def prm_probability(scorer: Any, inputs: list[dict[str, str]]) -> float:
    """The PRM's probability that the step is good: the mean over its edited regions."""
    from codeprm.prm.records import StepInput

    ps = scorer.score([StepInput(before=i["before"], after=i["after"], context=i["context"], task=i["task"], path=i["path"]) for i in inputs])
    return sum(ps) / len(ps)


def add_prm(reward: dict[str, Any], inputs: list[dict[str, str]], scorer: Any, weight: float, probability: float | None = None) -> dict[str, Any]:
    """The deterministic reward plus the PRM term ``w * (p - 0.5)``, every part recorded.

    The PRM term is per step (not a potential): replay reproduces it from the recorded
    probability, or re-scores the recorded inputs with another checkpoint.
    """
    from codeprm.prm.combine import combine

    if not inputs:
        return reward
    p = prm_probability(scorer, inputs) if probability is None else probability
    deterministic = reward.get("deterministicTotal", reward["total"])
    total, parts = combine(deterministic, p, weight)
    return {
        **reward,
        "components": {**reward["components"], "prm": round(parts["prm_term"], 12)},
        "deterministicTotal": deterministic,
        "prm": {
            "probability": p,
            "weight": weight,
            "checkpoint": getattr(scorer, "checkpoint_hash", None),
            "scoringHash": getattr(scorer, "scoring_hash", None),
            "inputs": inputs,
        },
        "total": round(total, 12),
    }


def parse_edit(text: str) -> tuple[str, Any]:
    """An edit given as text: an LSP WorkspaceEdit (a JSON object) or a unified diff."""
    import json

    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            return "workspaceEdit", json.loads(stripped)
        except json.JSONDecodeError as err:
            from codeprm.errors import UsageError

            raise UsageError(f"edit is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from err
    return "diff", text


def plan_edit(root: Path, text: str, options: Any = None) -> WorkspaceChange:
    """Resolve an edit against the workspace as it is on disk (reads, never writes)."""
    from codeprm.workspace import ApplyOptions, plan_diff, plan_workspace_edit

    kind, payload = parse_edit(text)
    opts = options or ApplyOptions(allow_dirty=True)
    if kind == "workspaceEdit":
        return plan_workspace_edit(root, payload, options=opts)
    return plan_diff(root, payload, options=opts)


def score_edit(engine: StepEngine, text: str, *, confidence: float = 1.0) -> StepOutcome:
    """``codeprm step``: score one edit (diff or WorkspaceEdit) against the workspace on disk.

    A path the jail refuses makes the step unsafe (S = 0) and leaves the snapshot as it
    is; an edit that does not apply to the current text is an error (exit 70 or 74).
    """
    from codeprm.errors import WriteDeniedError

    before = engine.workspace_texts()
    checks: dict[str, bool] = {}
    reasons: dict[str, str] = {}
    change: WorkspaceChange | None
    try:
        change = plan_edit(engine.root, text)
        checks["jail"] = True
    except WriteDeniedError as err:
        change = None
        checks["jail"] = False
        reasons["jail"] = err.one_line()
    if change is not None:
        before = {**before, **change.old_texts()}
        checks["cleanApply"] = True  # plan_edit raised otherwise
    edit_sha = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return engine.score(
        before,
        change,
        safety=Safety(checks, reasons),
        confidence=confidence,
        request={"operation": "step", "params": {"editSha256": edit_sha}},
    )
