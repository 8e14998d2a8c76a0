"""Build labelled edit steps: repair steps mined from a code corpus, and outcome-propagated steps.

Mining: every Python file of a corpus directory is parsed; functions of a moderate size get
one or more injected bugs (``codeprm.prm.mutate``). For each bug the correct repair (buggy ->
original) and several plausible wrong repairs become steps, labelled by equivalence with the
original (AST-equal after normalisation):

- ``near-miss``: the original with another bug at the same lines (fixes the wrong way, or
  fixes the bug while breaking the line nearby),
- ``other-mutation``: a further mutation of the buggy code elsewhere (the bug stays),
- ``broken-name``: the correct repair plus a misspelled name.

Files are split by a hash of their corpus-relative path, so no file is in two splits; the
whole build is a function of (corpus files, seed, config), independent of file order.

Labels by execution (``label_source="execution"``): ``codeprm.prm.execlabel`` reruns the
mined steps under a real test command and replaces ``label`` and ``label_source`` where
the tests can judge the bug; nothing here depends on how a label was obtained.
"""

from __future__ import annotations

import ast
import hashlib
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codeprm.prm.mutate import (
    MUTATION_KINDS,
    Mutation,
    attribute_names,
    break_a_name,
    enumerate_mutations,
    equivalent,
)
from codeprm.prm.records import Split, StepInput, StepRecord
from codeprm.prm.text import unified_diff

#: Directory names never mined. Held-out benchmarks must never be trained on.
EXCLUDED_DIRS = frozenset(
    {"__pycache__", "site-packages", "dist-packages", ".git", ".venv", "node_modules", "build"}
)
HELD_OUT_MARKERS = ("humaneval", "quixbugs")


def is_held_out(*names: str) -> bool:
    """Whether a path or id names HumanEval(Fix) or QuixBugs, reserved for evaluation."""
    return any(marker in name.lower() for name in names for marker in HELD_OUT_MARKERS)


@dataclass(frozen=True, slots=True)
class MiningConfig:
    """What ``mine_corpus`` does; recorded in checkpoints as the data recipe."""

    seed: int = 0
    min_lines: int = 3
    max_lines: int = 40
    max_chars: int = 2000
    context_lines: int = 12
    max_functions_per_file: int = 6
    bugs_per_function: int = 1
    bad_per_bug: int = 3
    max_bugs: int | None = None
    max_file_bytes: int = 400_000
    valid_percent: int = 10
    test_percent: int = 10
    #: put every record in this split (a corpus used only as a held-out set)
    force_split: Split | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def split_of(relpath: str, config: MiningConfig) -> Split:
    """The split of a file, from a hash of its corpus-relative POSIX path (seed-independent)."""
    if config.force_split is not None:
        return config.force_split
    bucket = int(hashlib.sha256(relpath.encode()).hexdigest()[:8], 16) % 100
    if bucket < config.test_percent:
        return "test"
    if bucket < config.test_percent + config.valid_percent:
        return "valid"
    return "train"


def iter_python_files(root: Path) -> Iterator[Path]:
    """Python files under ``root`` (or ``root`` itself), sorted, skipping excluded dirs."""
    root = Path(root)
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in EXCLUDED_DIRS and not d.startswith(".")
        )
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield Path(dirpath) / name


@dataclass(frozen=True, slots=True)
class FunctionSite:
    text: str  # whole lines of the function, decorators included
    context: str  # lines above it
    name: str


def functions_in(source: str, config: MiningConfig) -> list[FunctionSite]:
    """Functions (and methods, not nested functions) of a moderate size, in file order."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.splitlines(keepends=True)
    out: list[FunctionSite] = []

    def visit(body: Sequence[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
                end = node.end_lineno or node.lineno
                n = end - start
                text = "".join(lines[start:end])
                if not text.endswith("\n"):
                    text += "\n"
                if config.min_lines <= n <= config.max_lines and len(text) <= config.max_chars:
                    context = "".join(lines[max(0, start - config.context_lines) : start])
                    out.append(FunctionSite(text, context, node.name))

    visit(tree.body)
    return out


def _rng(seed: int, *parts: str) -> random.Random:
    digest = hashlib.sha256("\0".join([str(seed), *parts]).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _pick_bug(muts: Sequence[Mutation], rng: random.Random, used: set[str]) -> Mutation | None:
    """A kind uniformly among the kinds present, then a site uniformly: keeps kinds balanced."""
    by_kind: dict[str, list[Mutation]] = {}
    for m in muts:
        by_kind.setdefault(m.kind, []).append(m)
    kinds = [k for k in MUTATION_KINDS if k in by_kind and k not in used]
    if not kinds:
        return None
    kind = rng.choice(kinds)
    used.add(kind)
    return rng.choice(by_kind[kind])


def repair_steps(
    site: FunctionSite,
    bug: Mutation,
    *,
    rng: random.Random,
    attr_pool: Sequence[str],
    bad_per_bug: int,
    relpath: str,
    split: Split,
    bug_id: str,
    original_mutations: Sequence[Mutation] | None = None,
) -> list[StepRecord]:
    """The correct repair and up to ``bad_per_bug`` wrong ones for one injected bug."""
    original = site.text
    buggy = bug.apply(original)
    candidates: dict[str, list[str]] = {"near-miss": [], "other-mutation": [], "broken-name": []}
    lo, hi = bug.lines
    if original_mutations is None:
        original_mutations = enumerate_mutations(original, attr_pool=attr_pool)
    for m in original_mutations:
        if m.lines[1] >= lo and m.lines[0] <= hi:
            after = m.apply(original)
            if after != buggy:
                candidates["near-miss"].append(after)
    for m in enumerate_mutations(buggy, attr_pool=attr_pool):
        candidates["other-mutation"].append(m.apply(buggy))
    broken = break_a_name(original, rng.randrange(1 << 30))
    if broken is not None:
        candidates["broken-name"].append(broken)

    chosen: list[tuple[str, str]] = []
    seen = {buggy, original}
    pools = {k: rng.sample(v, len(v)) for k, v in candidates.items()}
    # round-robin over the kinds of wrong repair so each bug gets a mix
    while len(chosen) < bad_per_bug and any(pools.values()):
        for kind in ("near-miss", "other-mutation", "broken-name"):
            while pools[kind]:
                after = pools[kind].pop()
                if after not in seen:
                    seen.add(after)
                    chosen.append((kind, after))
                    break
            if len(chosen) >= bad_per_bug:
                break

    steps = []
    for kind, after in [("correct", original), *chosen]:
        steps.append(
            StepRecord(
                before=buggy,
                after=after,
                diff=unified_diff(buggy, after, relpath),
                label=equivalent(after, original),
                label_source="equivalence",
                context=site.context,
                bug_id=bug_id,
                mutation=bug.kind,
                candidate=kind,
                source_path=relpath,
                split=split,
            )
        )
    if all(s.label for s in steps):
        return []  # no wrong repair to contrast with: useless for ranking
    return steps


def function_span(source: str, group: Sequence[StepRecord]) -> tuple[int, int] | None:
    """Where the function of one mined bug sits in its (original) source file.

    ``group`` is the bug's steps; its ``correct`` step's text after is the original
    function. None when there is no correct step or the function is not found exactly once.
    """
    correct = next((r for r in group if r.candidate == "correct"), None)
    if correct is None or source.count(correct.after) != 1:
        return None
    start = source.index(correct.after)
    return start, start + len(correct.after)


def mine_file(path: Path, relpath: str, config: MiningConfig) -> list[StepRecord]:
    """All repair steps from one file (deterministic in the seed and the relative path)."""
    try:
        if path.stat().st_size > config.max_file_bytes:
            return []
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    try:
        attr_pool = attribute_names(ast.parse(source))
    except (SyntaxError, ValueError):
        return []
    split = split_of(relpath, config)
    rng = _rng(config.seed, relpath)
    sites = functions_in(source, config)
    if len(sites) > config.max_functions_per_file:
        sites = sorted(rng.sample(sites, config.max_functions_per_file), key=sites.index)
    out: list[StepRecord] = []
    for site in sites:
        muts = enumerate_mutations(site.text, attr_pool=attr_pool)
        used: set[str] = set()
        for k in range(config.bugs_per_function):
            bug = _pick_bug(muts, rng, used)
            if bug is None:
                break
            bug_id = hashlib.sha256(
                f"{config.seed}\0{relpath}\0{site.name}\0{k}\0{bug.kind}\0{bug.edits}".encode()
            ).hexdigest()[:16]
            out.extend(
                repair_steps(
                    site,
                    bug,
                    rng=rng,
                    attr_pool=attr_pool,
                    bad_per_bug=config.bad_per_bug,
                    relpath=relpath,
                    split=split,
                    bug_id=bug_id,
                    original_mutations=muts,
                )
            )
    return out


def mine_corpus(
    roots: Sequence[Path], config: MiningConfig, *, max_files: int | None = None
) -> list[StepRecord]:
    """Repair steps from every Python file under ``roots``.

    Files are visited in a seeded order (so that ``max_files``/``max_bugs`` take a fair
    sample rather than the alphabetically first modules); relative paths are prefixed with
    the root's name so that two corpora never share one.
    """
    files: list[tuple[Path, str]] = []
    for root in roots:
        root = Path(root)
        base = root.parent if root.is_file() else root
        for path in iter_python_files(root):
            rel = f"{root.name}/{path.relative_to(base).as_posix()}" if root.is_dir() else root.name
            if is_held_out(rel):
                continue
            files.append((path, rel))
    order = _rng(config.seed, "file-order")
    files.sort(key=lambda f: f[1])
    order.shuffle(files)
    if max_files is not None:
        files = files[:max_files]
    out: list[StepRecord] = []
    bugs: set[str] = set()
    for path, rel in files:
        for record in mine_file(path, rel, config):
            if config.max_bugs is not None and record.bug_id not in bugs:
                if len(bugs) >= config.max_bugs:
                    return out
                bugs.add(record.bug_id)
            out.append(record)
    return out


# --------------------------------------------------------------------------- outcomes


def outcome_values(n_steps: int, outcome: float, *, gamma: float = 1.0) -> list[float]:
    """Monte-Carlo step values from one trajectory's final outcome, discounted back in time.

    Step ``i`` of ``n`` gets ``outcome * gamma ** (n - 1 - i)``: the last step carries the
    outcome, earlier ones less of it. With ``gamma=1`` every step gets the outcome (the
    plain Monte-Carlo estimate from a single rollout).
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError("gamma must be in [0, 1]")
    return [outcome * gamma ** (n_steps - 1 - i) for i in range(n_steps)]


def mean_state_values(
    trajectories: Sequence[tuple[Sequence[StepInput], float]],
) -> dict[str, float]:
    """Monte-Carlo value of each reached state: the mean outcome of the trajectories through it.

    States are keyed by sha256 of the code after a step; several rollouts from a shared
    prefix then give a less noisy value than a single trajectory's outcome.
    """
    sums: dict[str, list[float]] = {}
    for steps, outcome in trajectories:
        seen: set[str] = set()
        for step in steps:
            key = hashlib.sha256(step.after.encode()).hexdigest()
            if key not in seen:
                seen.add(key)
                sums.setdefault(key, []).append(outcome)
    return {k: sum(v) / len(v) for k, v in sums.items()}


def outcome_records(
    steps: Sequence[StepInput],
    outcome: float,
    *,
    gamma: float = 1.0,
    threshold: float = 0.5,
    trajectory_id: str = "",
    split: Split = "train",
) -> list[StepRecord]:
    """Records of one recorded trajectory, labelled from its final outcome (in [0, 1])."""
    values = outcome_values(len(steps), outcome, gamma=gamma)
    tid = (
        trajectory_id
        or hashlib.sha256("\0".join(s.before + "\0" + s.after for s in steps).encode()).hexdigest()[
            :16
        ]
    )
    return [
        StepRecord(
            before=s.before,
            after=s.after,
            diff=unified_diff(s.before, s.after, s.path),
            label=v >= threshold,
            label_source="outcome",
            context=s.context,
            task=s.task,
            facts=dict(s.facts),
            bug_id=f"{tid}-{i}",
            candidate="trajectory",
            source_path=s.path,
            split=split,
            value=v,
        )
        for i, (s, v) in enumerate(zip(steps, values, strict=True))
    ]


def summarize(records: Sequence[StepRecord]) -> dict[str, Any]:
    """Counts per split, label, mutation kind and candidate kind."""
    out: dict[str, Any] = {"records": len(records), "bugs": len({r.bug_id for r in records})}
    for key in ("split", "mutation", "candidate", "label"):
        counts: dict[str, int] = {}
        for r in records:
            v = str(getattr(r, key))
            counts[v] = counts.get(v, 0) + 1
        out[key] = dict(sorted(counts.items()))
    return out


def trajectory_records(path: Path, config: MiningConfig, *, gamma: float = 1.0) -> list[StepRecord]:
    """Records of the recorded trajectories in a JSONL file ({"id", "task", "steps", "outcome"}
    rows).

    Each step is labelled from its trajectory's final outcome (``outcome_records``); a row
    without steps or outcome is a usage error (2).
    """
    from codeprm.errors import UsageError
    from codeprm.prm.records import read_jsonl

    records: list[StepRecord] = []
    for i, row in enumerate(read_jsonl(path)):
        try:
            steps = [
                StepInput(
                    before=str(s["before"]),
                    after=str(s["after"]),
                    context=str(s.get("context", "")),
                    task=str(s.get("task", row.get("task", ""))),
                    facts=dict(s.get("facts") or {}),
                    path=str(s.get("path", "")),
                )
                for s in row["steps"]
            ]
            outcome = float(row["outcome"])
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(f"{path}: trajectory {i + 1} needs steps and outcome") from err
        records.extend(
            outcome_records(
                steps,
                outcome,
                gamma=gamma,
                trajectory_id=str(row.get("id", f"t{i}")),
                split=split_of(f"trajectory/{row.get('id', i)}", config),
            )
        )
    return records
