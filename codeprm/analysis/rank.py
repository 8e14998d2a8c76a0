"""Ranking candidate edits of one file with the combined reward, in one warm session.

Every candidate starts from the same state (the file as it is on disk). The
deterministic reward comes from the step engine; the learned PRM (when one is loaded)
adds the change of its potential over the units the candidate changed,
``w/4 * (V(after) - V(before))`` (``rewards.combined``; ``--prm-form step-v1`` keeps the
old ``w * (p - 0.5)``). A candidate that changes nothing therefore scores exactly 0. A
candidate that cannot be read or applied gets its own error; the others are still scored.
Nothing on disk changes, and the engine given is not modified.

The JSON contract (``codeprm rank --json``) is stable: a list, best first, of objects
with at least ``id``, ``reward`` (null for a failed candidate) and ``components``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeprm import safejson
from codeprm.analysis import files
from codeprm.analysis.step import Safety, StepEngine
from codeprm.errors import CodeprmError, UsageError
from codeprm.workspace.diffs import parse_unified_diff, resolve_patch
from codeprm.workspace.edits import WorkspaceChange

DEFAULT_PRM_WEIGHT = 1.0


@dataclass(frozen=True)
class Candidate:
    id: str
    line: int
    new_text: str | None = None
    diff: str | None = None
    error: CodeprmError | None = None


@dataclass
class Ranked:
    id: str
    reward: float | None
    components: dict[str, Any] = field(default_factory=dict)
    bundle: dict[str, Any] | None = None
    error: CodeprmError | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "reward": self.reward, "components": self.components}
        if self.bundle is not None:
            out["bundleId"] = self.bundle["bundleId"]
            out["introduced"] = len(self.bundle["facts"]["introduced"])
            out["fixed"] = len(self.bundle["facts"]["fixed"])
        if self.error is not None:
            out["error"] = {"exitCode": self.error.exit_code, "message": self.error.one_line()}
        return out


def read_candidates(path: Path) -> list[Candidate]:
    """Candidates from JSONL; a bad line becomes a candidate with an error, not a failure."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError as err:
        from codeprm.errors import NotFoundError

        raise NotFoundError(f"{path}: no such file") from err
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: cannot read: {err}") from err
    out: list[Candidate] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            row = safejson.loads(line, what=where)
        except UsageError as err:
            out.append(Candidate(f"<line {number}>", number, error=err))
            continue
        out.append(candidate_from(row, number, seen, where))
    if not out:
        raise UsageError(f"{path}: no candidates")
    return out


def candidate_from(row: Any, number: int, seen: set[str], where: str | None = None) -> Candidate:
    """One candidate object ({"id", "new_text"} or {"id", "diff"}); what is wrong becomes its error.

    The one validation of candidates, for ``codeprm rank``'s JSONL and the MCP tool alike;
    ``seen`` collects the ids so far (a duplicate is an error of its own).
    """
    where = where or f"candidate {number}"
    if not isinstance(row, dict) or "id" not in row:
        return Candidate(
            f"<line {number}>",
            number,
            error=UsageError(f"{where}: a candidate is an object with an id"),
        )
    cid = str(row["id"])
    if cid in seen:
        return Candidate(cid, number, error=UsageError(f"{where}: duplicate candidate id {cid!r}"))
    seen.add(cid)
    new_text, diff = row.get("new_text"), row.get("diff")
    if (new_text is None) == (diff is None) or not isinstance(
        new_text if new_text is not None else diff, str
    ):
        return Candidate(
            cid,
            number,
            error=UsageError(f"{where}: give exactly one of new_text or diff (a string)"),
        )
    return Candidate(cid, number, new_text=new_text, diff=diff)


def _change(candidate: Candidate, rel: str, old: str, texts: dict[str, str]) -> WorkspaceChange:
    if candidate.new_text is not None:
        return WorkspaceChange.between({rel: old}, {rel: candidate.new_text})
    assert candidate.diff is not None
    patch = parse_unified_diff(candidate.diff)
    return resolve_patch(patch, {p: texts[p] for p in patch.paths() if p in texts})


def rank(
    engine: StepEngine,
    file: Path,
    candidates: Sequence[Candidate],
    *,
    task: str = "",
    scorer: Any = None,
    prm_weight: float = DEFAULT_PRM_WEIGHT,
    base_text: str | None = None,
    prm_form: str | None = None,
) -> list[Ranked]:
    """Score every candidate; best first (ties by id), failed candidates last.

    ``base_text`` is the file's starting text when it is not what the disk holds (the
    planning loop ranks candidates from states it reached in memory).
    """
    from codeprm.analysis.step import prm_inputs

    rel = files.relative(engine.root, file)
    texts = engine.workspace_texts()
    old = files.read_source(file) if base_text is None else base_text
    texts[rel] = old
    planned: list[tuple[Candidate, WorkspaceChange | None, CodeprmError | None]] = []
    for cand in candidates:
        if cand.error is not None:
            planned.append((cand, None, cand.error))
            continue
        try:
            planned.append((cand, _change(cand, rel, old, texts), None))
        except CodeprmError as err:
            planned.append((cand, None, err))
    engine = dataclasses.replace(
        engine,
        scorer=scorer,
        prm_weight=prm_weight,
        task=task,
        prm_form=prm_form or engine.prm_form,
    )
    if scorer is not None:  # one batch for every candidate; the engine then hits the scorer's cache
        from codeprm.analysis.potential import unit_changes, unit_deltas
        from codeprm.prm.records import StepInput

        batch, units = [], []
        for _, change, _ in planned:
            if change is not None:
                before = {**texts, **change.old_texts()}
                after = {**before, **change.new_texts()}
                if engine.prm_form == "step-v1":
                    batch += [
                        StepInput(
                            before=i["before"],
                            after=i["after"],
                            context=i["context"],
                            task=i["task"],
                            path=i["path"],
                        )
                        for i in prm_inputs(before, after, change, task)
                    ]
                else:
                    units += unit_changes(before, after, list(change.paths))
        if batch:
            scorer.score(batch)
        if units:
            unit_deltas(scorer, units, task)
    results: list[Ranked] = []
    for cand, change, error in planned:
        if change is None:
            results.append(Ranked(cand.id, None, error=error))
            continue
        try:
            before = {**texts, **change.old_texts()}
            outcome = engine.score(
                before,
                change,
                safety=Safety({"jail": True, "cleanApply": True}),
                request={"operation": "rank", "params": {"candidate": cand.id, "task": task}},
            )
        except CodeprmError as err:
            results.append(Ranked(cand.id, None, error=err))
            continue
        reward = outcome.bundle["processReward"]
        components: dict[str, Any] = {
            "deterministic": reward.get("deterministicTotal", reward["total"]),
            "deterministicComponents": {
                k: v for k, v in reward["components"].items() if k != "prm"
            },
        }
        if "prm" in reward:
            learned = reward["prm"]
            value = (
                {"delta": learned["delta"]}
                if learned["form"] == "potential-v1"
                else {"probability": learned["probability"]}
            )
            components.update(
                prm={
                    "form": learned["form"],
                    **value,
                    "weight": learned["weight"],
                    "term": reward["components"]["prm"],
                },
                prmCheckpoint=learned["checkpoint"],
            )
        if reward.get("guard"):
            components["guard"] = {
                "detected": sorted({d["kind"] for d in reward["guard"]["detected"]}),
                "withheld": reward["guard"]["withheld"],
            }
        results.append(Ranked(cand.id, reward["total"], components, outcome.bundle))
    ok = sorted(
        (r for r in results if r.reward is not None), key=lambda r: (-(r.reward or 0.0), r.id)
    )
    failed = [r for r in results if r.reward is None]
    return ok + failed
