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
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeprm.analysis import files, structure
from codeprm.analysis.navigate import Analyzer
from codeprm.analysis.stages import StageClock, as_ms, stage
from codeprm.bundles import make_bundle
from codeprm.errors import CodeprmError
from codeprm.languages import language_of
from codeprm.rewards import DEFAULT_FORMULA, Facts, Weights, step_reward
from codeprm.rewards.combined import DEFAULT_PRM_FORM, combine
from codeprm.rewards.guard import Guard, Ledger, detect
from codeprm.rewards.identity import Located, counts, delta, renamed_identifiers
from codeprm.selectors.modules import is_python_path
from codeprm.workspace.edits import WorkspaceChange, apply_to_texts

#: per-file diagnostics an analyzer remembers (each a few diagnostics; a daemon lives long)
FILE_MEMO_CAPACITY = 4096


def _sha(text: str) -> str:
    return structure.sha256_text(text)


def texts_digest(texts: Mapping[str, str]) -> str:
    """sha256 over (path, sha256(text)) of a snapshot held in memory, in path order."""
    h = hashlib.sha256()
    for path in sorted(texts):
        content = structure.sha256_text(texts[path])
        h.update(f"{path}\0{content}\n".encode())
    return "sha256:" + h.hexdigest()


class BoundedMemo(OrderedDict[str, Any]):
    """A dict that forgets its oldest entries past ``capacity`` (a daemon lives long)."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > self.capacity:
            self.popitem(last=False)


@dataclass(frozen=True)
class Safety:
    """The safe-apply checks of one step, each passed or not, with why."""

    checks: Mapping[str, bool] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "checks": dict(sorted(self.checks.items())),
            "reasons": dict(sorted(self.reasons.items())),
            "passed": self.passed,
        }


@dataclass(frozen=True)
class StepOutcome:
    bundle: dict[str, Any]
    texts: dict[str, str]  # the snapshot after the step (unchanged when it was refused)
    facts: Facts
    located: list[Located]  # the diagnostics of that snapshot
    guard: Guard | None = None


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
    #: how the PRM enters the reward: "potential-v1" (w * s * dV) or "step-v1" (w * (p - 1/2))
    prm_form: str = DEFAULT_PRM_FORM
    #: execution facts: "none", "doctest" (the edited definitions' doctests) or "tests"
    exec_mode: str = "none"
    test_cmd: str | None = None
    exec_timeout: float = 10.0
    exec_memo: dict[str, Any] = field(default_factory=lambda: BoundedMemo(64), repr=False)
    _coverage: dict[str, Any] | None = field(default=None, repr=False)
    #: reuse what the server already checked (per-file memo keyed by surfaces); False re-checks
    #: every covered file of every state (the reference the fast path is tested against)
    reuse: bool = True
    #: diagnostics of states measured elsewhere (``measure_key`` -> what ``measure`` would
    #: answer), e.g. by Ray actors measuring a trajectory's states in parallel
    measured: dict[tuple[str, tuple[str, ...]], list[Located]] = field(
        default_factory=dict, repr=False
    )
    #: seconds per stage since the last bundle (``meta.stagesMs``)
    clock: StageClock = field(default_factory=StageClock, repr=False)

    @staticmethod
    def measure_key(
        texts: Mapping[str, str], covered: Iterable[str]
    ) -> tuple[str, tuple[str, ...]]:
        """What identifies a measurement: the snapshot's digest and the covered files."""
        return texts_digest(texts), tuple(sorted(set(covered)))

    @property
    def root(self) -> Path:
        return self.analyzer.root

    def workspace_texts(self) -> dict[str, str]:
        """Every readable Python source of the workspace as it is on disk now."""
        out = {}
        for path in files.iter_source_files(self.root):
            try:
                out[files.relative(self.root, path)] = files.read_source(path)
            except CodeprmError:  # an unreadable file is not ours to score; it is simply absent
                continue
        return out

    def covered(
        self, before: Mapping[str, str], after: Mapping[str, str], changed: Iterable[str]
    ) -> list[str]:
        """The edited source files (of any language with a server) and every file importing
        them, before or after."""
        changed = [p for p in changed if language_of(p) is not None]
        cover = (
            set(changed)
            | structure.importers(before, changed)
            | structure.importers(after, changed)
        )
        return sorted(cover)

    @stage("diagnostics")
    def measure(self, texts: Mapping[str, str], covered: Iterable[str]) -> list[Located]:
        """Diagnostics of the covered files in the snapshot, each with its enclosing symbol.

        Only what the server does not already know is re-checked. A file's diagnostics
        are a pure function of its own text and of what the rest of the snapshot shows
        other modules (``structure.surfaces_digest``: every text with the bodies other
        modules cannot see elided), the server and its settings being fixed for one
        analyzer. They are memoised per file under that key, so the state before a step
        (usually the one measured last) is answered without a request, and after an edit
        that leaves every surface as it was (a body edit) only the edited files are pulled:
        their importers' diagnostics cannot have changed.

        Before pulling, the session is made to mirror the snapshot: every open document that
        differs from it is re-synced (or closed when the snapshot lacks it), so no text of
        another state can leak into cross-file facts. The pulls are sent together.
        """
        key = self.measure_key(texts, covered)
        cover = list(key[1])
        if key in self.measured:
            return list(self.measured[key])
        memo = self.analyzer.measure_cache
        if self.reuse and key in memo:
            return list(memo[key])
        present = [p for p in cover if p in texts]
        per_file = self.analyzer.file_diagnostics
        surfaces = structure.surfaces_digest(texts) if self.reuse else ""
        keys = {p: (p, _sha(texts[p]), surfaces) for p in present}
        missing = [p for p in present if not self.reuse or keys[p] not in per_file]
        pulled = self._pull(texts, present, missing) if missing else {}
        out = [x for p in present for x in (pulled[p] if p in pulled else per_file[keys[p]])]
        out.sort(key=lambda x: x.diagnostic.sort_key())
        if not self.reuse:
            return out
        for path, located in pulled.items():
            per_file[keys[path]] = located
        while len(per_file) > FILE_MEMO_CAPACITY:  # a daemon lives long: forget the oldest
            per_file.pop(next(iter(per_file)))
        if len(memo) >= 8:  # a few recent states: rank and the daemon measure the same start again
            memo.pop(next(iter(memo)))
        memo[key] = list(out)
        return out

    def mirror(self, texts: Mapping[str, str], analyzer: Analyzer | None = None) -> None:
        """Make the session's open documents hold ``texts`` (closed where the snapshot lacks
        them), so no text of another state leaks into cross-file facts."""
        an = analyzer or self.analyzer
        session = an.session
        for abs_path, held in session.session.open_documents().items():
            try:
                rel = abs_path.resolve().relative_to(an.root).as_posix()
            except ValueError:
                continue
            if rel not in texts:
                session.close_document(abs_path)
            elif texts[rel] != held:
                session.sync(abs_path, texts[rel])

    def _pull(
        self, texts: Mapping[str, str], present: list[str], paths: list[str]
    ) -> dict[str, list[Located]]:
        """Pull the paths' diagnostics from a server whose disk view is the snapshot's.

        A snapshot whose sources of the mirrored languages (Python; TypeScript/JavaScript
        where the workspace uses it) are not the disk's (a step created, deleted or renamed
        a module) is measured by the analyzer's shadow, rooted in a scratch mirror of the
        state (``Analyzer.for_state``); other languages' files (C) stay with the warm session.
        """
        target = self.analyzer.for_state(texts)
        if target is self.analyzer:
            return self._pull_in(self.analyzer, texts, present, paths)
        languages = self.analyzer.mirror_languages()

        def held(path: str) -> bool:
            return language_of(path) in languages or is_python_path(path)

        out = self._pull_in(
            target, texts, [p for p in present if held(p)], [p for p in paths if held(p)]
        )
        rest = [p for p in paths if not held(p)]
        if rest:
            out.update(
                self._pull_in(self.analyzer, texts, [p for p in present if not held(p)], rest)
            )
        return out

    def _pull_in(
        self, an: Analyzer, texts: Mapping[str, str], present: list[str], paths: list[str]
    ) -> dict[str, list[Located]]:
        """Make ``an``'s session mirror the snapshot, then pull the paths' diagnostics at once.

        Every covered file is synced (a no-op for a document already open with its text):
        the files a snapshot changes are covered, and a pulled file may import them.
        """
        if not paths:
            return {}
        session = an.session
        self.mirror(texts, an)
        # sync the whole snapshot first: cross-file facts need it
        session.sync_many([(an.root / path, texts[path]) for path in present])
        out = {}
        for path, diags in zip(
            paths, session.diagnostics_many([an.root / p for p in paths]), strict=True
        ):
            names = structure.enclosing(texts[path], (d.range.start for d in diags), path)
            out[path] = [Located(d, name) for d, name in zip(diags, names, strict=True)]
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
        with self.clock.timed("apply"):
            after = (
                dict(before)
                if change is None or not safety.passed
                else apply_to_texts(before, change)
            )
            changed = list(change.paths) if change is not None else []
            cover = self.covered(before, after, changed)
        located_before = self.measure(before, cover)
        c = counts(located_before)
        selection = self.exec_selection(before, after, changed) if safety.passed else None
        exec_before = self.run_exec(before, selection) if selection is not None else None
        failing = exec_before.failed if exec_before is not None else None
        return self.step(
            before,
            after,
            change,
            located_before,
            Facts(c["error"], c["warning"], True, 1.0, failing_tests=failing),
            safety=safety,
            confidence=confidence,
            cover=cover,
            request=request or {},
            started=started,
            exec_selection=selection,
            exec_before=exec_before,
        )

    @stage("exec")
    def exec_selection(
        self, before: Mapping[str, str], after: Mapping[str, str], changed: Iterable[str]
    ) -> Any:
        """What runs before and after a step (``analysis.execfacts``), or None: nothing to run."""
        if self.exec_mode == "none":
            return None
        from codeprm.analysis.execfacts import command_tests, select

        py = [p for p in changed if is_python_path(p)]
        coverage = None
        # a command that only names tests selects them itself: no coverage run is needed
        if self.exec_mode == "tests" and self.test_cmd and command_tests(self.test_cmd) is None:
            if self._coverage is None:  # one recorded run of the user's tests per engine
                from codeprm.analysis.execfacts import record_coverage

                self._coverage = dict(record_coverage(self.root, before, py, self.test_cmd))
            coverage = self._coverage
        selection = select(
            before,
            after,
            py,
            self.exec_mode,
            root=self.root,
            test_cmd=self.test_cmd,
            coverage=coverage,
        )
        return None if selection.empty else selection

    @stage("exec")
    def run_exec(self, texts: Mapping[str, str], selection: Any) -> Any:
        """The execution facts of one state (memoised per snapshot and selection)."""
        from codeprm.analysis.execfacts import measure

        # only Python sources: a commit range's states carry other files as tokens (a blob
        # id, a link target) that must never be written out as text
        sources = {p: t for p, t in texts.items() if is_python_path(p) and not t.startswith("\0")}
        return measure(
            self.root, sources, selection, timeout=self.exec_timeout, memo=self.exec_memo
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
        ledger: Ledger | None = None,
        exec_selection: Any = None,
        exec_before: Any = None,
    ) -> StepOutcome:
        """Measure the state after a step whose state before is already measured.

        ``ledger`` is what a trajectory carries between its steps (diagnostics hidden so
        far, and those its steps introduced); a lone step starts from an empty one.
        ``exec_selection`` is what runs in both states (``exec_before``: its facts before).
        """
        located_after = self.measure(after, cover)
        exec_after = self.run_exec(after, exec_selection) if exec_selection is not None else None
        renames = (
            renamed_identifiers(
                (before.get(q, ""), after.get(q, "")) for q in change.paths if is_python_path(q)
            )
            if change is not None
            else {}
        )
        moved = (
            {e.renamed_from: e.path for e in change.edits if e.renamed_from}
            if change is not None
            else {}
        )
        d = delta(located_before, located_after, renames, moved)
        c_before, c_after = counts(located_before), counts(located_after)
        guard = None
        if self.formula == "potential-v2" and change is not None and safety.passed:
            guard = self.guard(before, after, change, d.fixed, ledger, d.introduced)
        hidden_e = hidden_w = 0
        if self.formula == "potential-v2":
            book = ledger if ledger is not None else Ledger()  # a trajectory's carries on
            book.update(guard or Guard(), d.introduced, located_after)
            hidden_e, hidden_w = book.counts()
        failing = exec_after.failed if exec_after is not None else None
        facts_after = Facts(
            c_after["error"],
            c_after["warning"],
            safety.passed,
            confidence,
            hidden_e,
            hidden_w,
            failing,
        )
        reward = step_reward(facts_before, facts_after, self.weights, self.formula)
        prm = None
        if self.scorer is not None and change is not None and safety.passed:
            prm = self.prm_record(before, after, change)
        reward = combine(reward, prm=prm, guard=guard.to_json() if guard is not None else None)
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
        if exec_selection is not None:
            facts["execution"] = {
                "selection": exec_selection.to_json(),
                "before": exec_before.to_json() if exec_before is not None else None,
                "after": exec_after.to_json() if exec_after is not None else None,
            }
        params = {
            "weights": self.weights.to_json(),
            "formula": self.formula,
            **request.get("params", {}),
        }
        bundle = self.analyzer.record(
            make_bundle(
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
                environment=self.analyzer.environment(cover),
                capabilities=self.analyzer.capabilities(cover),
                meta={
                    **self.analyzer.meta(started),
                    # seconds per stage since the engine's last bundle (analysis.stages)
                    "stagesMs": as_ms(self.clock.take()),
                    **request.get("meta", {}),
                    **(
                        {"execSeconds": round(exec_after.seconds, 3)}
                        if exec_after is not None
                        else {}
                    ),
                },
            )
        )
        return StepOutcome(
            bundle=bundle, texts=dict(after), facts=facts_after, located=located_after, guard=guard
        )

    @stage("guard")
    def guard(
        self,
        before: Mapping[str, str],
        after: Mapping[str, str],
        change: WorkspaceChange,
        fixed: Iterable[Located],
        ledger: Ledger | None,
        introduced: Iterable[Located] = (),
    ) -> Guard:
        """What the step hid instead of fixing (``rewards.guard``)."""
        old = {e.path: e.old_text for e in change.edits}
        new = {e.path: e.new_text for e in change.edits}
        importers = {
            p: sorted(structure.importers(after, [p]))
            for p in change.paths
            if language_of(p) is not None
        }
        extra = []
        if self.exec_mode != "none":  # tests only carry reward when execution facts are on
            from codeprm.analysis.weakened import weakened_tests
            from codeprm.rewards.guard import Detection

            # Python files, and the test runner's configuration files (conftest.py is
            # Python; pytest.ini, pyproject.toml, setup.cfg, tox.ini are not)
            olds = {p: t for p, t in old.items() if t is not None and not t.startswith("\0")}
            news = {p: t for p, t in new.items() if t is not None and not t.startswith("\0")}
            extra = [
                Detection("weakened-tests", w["path"], f"{w['kind']} {w['name']}")
                for w in weakened_tests(olds, news, list(change.paths))
            ]
        return detect(
            old,
            new,
            list(fixed),
            importers=importers,
            extra=extra,
            introduced=list(introduced),
            revertible=ledger.introduced if ledger is not None else None,
            definition_names=lambda text, path: {
                x.qualname for x in structure.definitions(text, path)
            },
            definition_spans=definition_spans,
            state_paths=after.keys(),
            python_version=self.target_version(),
        )

    def target_version(self) -> tuple[int, int] | None:
        """The target interpreter's (major, minor), as the bundles record it."""
        from codeprm.bundles.environment import python_version

        found = python_version(str(self.analyzer.session.session.python)).split(".")
        try:
            return int(found[0]), int(found[1])
        except (IndexError, ValueError):  # "unknown"
            return None

    @stage("prm")
    def prm_record(
        self, before: Mapping[str, str], after: Mapping[str, str], change: WorkspaceChange
    ) -> dict[str, Any] | None:
        """The PRM part of a step's reward: what it read and what it said (None: no Python
        change)."""
        record: dict[str, Any] = {
            "weight": self.prm_weight,
            "checkpoint": getattr(self.scorer, "checkpoint_hash", None),
            "scoringHash": getattr(self.scorer, "scoring_hash", None),
        }
        if self.prm_form == "step-v1":
            inputs = prm_inputs(before, after, change, self.task)
            if not inputs:
                return None
            return {
                "form": "step-v1",
                **record,
                "probability": prm_probability(self.scorer, inputs),
                "inputs": inputs,
            }
        from codeprm.analysis.potential import unit_changes, unit_deltas

        changes = unit_changes(before, after, list(change.paths))
        deltas = unit_deltas(self.scorer, changes, self.task)
        inputs = [
            {**c.to_json(), "task": self.task, "delta": _round(v)}
            for c, v in zip(changes, deltas, strict=True)
        ]
        return {"form": "potential-v1", **record, "delta": _round(sum(deltas)), "inputs": inputs}


def definition_spans(text: str, path: str | None = None) -> list[tuple[str, int, int]]:
    """(qualified name, first line, end line exclusive) of every definition of text."""
    from codeprm.selectors.position_encoding import LineTable

    table = LineTable(text)
    out = []
    for d in structure.definitions(text, path):
        first = table.byte_to_position(d.start, "utf-16").line
        last = table.byte_to_position(max(d.start, d.end - 1), "utf-16").line
        out.append((d.qualname, first, last + 1))
    return out


def union_selection(selections: Iterable[Any]) -> Any:
    """One selection covering several steps' (a trajectory runs the same tests in every state)."""
    from codeprm.analysis.execfacts import ExecSelection

    chosen = [s for s in selections if s is not None]
    if not chosen:
        return None
    return ExecSelection(
        chosen[0].mode,
        tuple(sorted({d for s in chosen for d in s.doctests})),
        tuple(sorted({t for s in chosen for t in s.tests})),
        next((s.test_cmd for s in chosen if s.test_cmd), None),
        next((s.python for s in chosen if s.python), None),
    )


def rescore_prm(scorer: Any, record: Mapping[str, Any]) -> float:
    """A recorded PRM part re-scored by another checkpoint: dV, or p for the step form."""
    if record.get("form", "step-v1") == "potential-v1":
        from codeprm.analysis.potential import unit_deltas
        from codeprm.analysis.units import UnitChange

        changes = [
            UnitChange(i["path"], i["unit"], i["before"], i["after"], i["context"])
            for i in record["inputs"]
        ]
        task = record["inputs"][0].get("task", "") if record["inputs"] else ""
        return _round(sum(unit_deltas(scorer, changes, task)))
    return prm_probability(scorer, record["inputs"])


def _round(x: float) -> float:
    v = round(float(x), 12)
    return 0.0 if v == 0 else v


def prm_inputs(
    before: Mapping[str, str], after: Mapping[str, str], change: WorkspaceChange, task: str = ""
) -> list[dict[str, str]]:
    """What the PRM reads of a step: the edited region of each changed Python file."""
    from codeprm.analysis.regions import edited_region

    out = []
    from codeprm.analysis.units import has_units

    for path in change.paths:
        if not has_units(path):
            continue
        region = edited_region(before.get(path, ""), after.get(path, ""), path)
        if region is not None:
            out.append(
                {
                    "path": path,
                    "before": region.before,
                    "after": region.after,
                    "context": region.context,
                    "task": task,
                }
            )
    return out


def prm_probability(scorer: Any, inputs: list[dict[str, str]]) -> float:
    """The PRM's probability that the step is good: the mean over its edited regions."""
    from codeprm.prm.records import StepInput

    ps = scorer.score(
        [
            StepInput(
                before=i["before"],
                after=i["after"],
                context=i["context"],
                task=i["task"],
                path=i["path"],
            )
            for i in inputs
        ]
    )
    return sum(ps) / len(ps)


def parse_edit(text: str) -> tuple[str, Any]:
    """An edit given as text: an LSP WorkspaceEdit (a JSON object) or a unified diff."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        from codeprm import safejson

        return "workspaceEdit", safejson.loads(stripped, what="edit (a WorkspaceEdit)")
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

    checks: dict[str, bool] = {}
    reasons: dict[str, str] = {}
    change: WorkspaceChange | None
    with engine.clock.timed("apply"):
        before = engine.workspace_texts()
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
