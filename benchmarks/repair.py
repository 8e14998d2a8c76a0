"""Repair tasks from the standard library: the reward-guided loop (with the learned PRM, and with
language-server and execution facts only) versus proposer order.

Each task is one standard-library module copied into a scratch workspace with one
injected bug (a mutation of a function its CPython tests call, kept only when it makes
those tests fail), and the module's own CPython test file as the test command. The three
arms see the same candidates (mutation repairs of the functions the tests call, and
quick fixes); the guided arms try them best reward first (the default: facts plus the
learned potential; ``--prm none``: facts only, execution facts on as in the CLI), the
baseline in proposer order. All have the same budget of test runs. Printed side by side: fixes
found and test runs spent (the baseline run included); next to the fix rate, coverage:
is a passing candidate among the proposals (the original module, up to its AST, or the
fix found). A ranking cannot pick a fix that was never proposed.

Run: python benchmarks/repair.py [--tasks 20] [--budget 30] [--max-candidates 200] [--prm auto|none|PATH]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeprm.agents.loop import RepairLoop
from codeprm.agents.proposers import (
    MutationRepairs,
    Observation,
    Proposal,
    QuickFixes,
    function_spans,
)
from codeprm.agents.verify import Sandbox
from codeprm.analysis.learned import load_prm
from codeprm.analysis.navigate import Analyzer
from codeprm.analysis.step import StepEngine
from codeprm.prm.mutate import enumerate_mutations, normalised_ast

STDLIB = Path(sysconfig.get_paths()["stdlib"])
#: pure-Python modules whose CPython test files run in about a second
MODULES = (
    "textwrap",
    "colorsys",
    "fnmatch",
    "shlex",
    "calendar",
    "string",
    "quopri",
    "bisect",
    "heapq",
    "fractions",
    "graphlib",
    "reprlib",
    "getopt",
    "base64",
    "difflib",
    "pprint",
)


@dataclass
class Task:
    name: str
    module: str
    text: str  # the buggy module
    function: str
    kind: str


def test_cmd(module: str) -> str:
    return f"PYTHONPATH=.:$PYTHONPATH {sys.executable} -m unittest -q test.test_{module}"


def make_tasks(
    n: int, per_module: int, seed: int, scratch: Path, exclude: frozenset[str] = frozenset()
) -> list[Task]:
    """Up to ``n`` tasks; modules whose file is in ``exclude`` (what a PRM trained on) are skipped."""
    rng = random.Random(seed)
    tasks: list[Task] = []
    for module in MODULES:
        if f"{STDLIB.name}/{module}.py" in exclude:
            print(f"skipped {module}: the PRM was trained on {STDLIB.name}/{module}.py")
            continue
        source = STDLIB / f"{module}.py"
        if not source.is_file() or not (STDLIB / "test" / f"test_{module}.py").is_file():
            continue
        ws = scratch / f"probe_{module}"
        ws.mkdir()
        shutil.copy(source, ws / source.name)
        original = source.read_text("utf-8")
        with Sandbox(ws, test_cmd(module), timeout=20, memory_mb=2048) as sandbox:
            run, calls = sandbox.called_functions([source.name])
            if not run.passed:
                continue  # the suite does not pass as shipped here: no task from it
            called_lines = {s.first_line - 1 for s in calls}
            spans = [
                s for s in function_spans(original) if original.count("\n", 0, s[0]) in called_lines
            ]
            rng.shuffle(spans)
            found = 0
            for start, end, qualname in spans:
                if found >= per_module or len(tasks) >= n:
                    break
                snippet = original[start:end]
                mutations = enumerate_mutations(snippet)
                rng.shuffle(mutations)
                for mutation in mutations[:4]:
                    buggy = original[:start] + mutation.apply(snippet) + original[end:]
                    sandbox.set_texts({source.name: buggy})
                    if not sandbox.run().passed:
                        tasks.append(
                            Task(
                                f"{module}:{qualname}:{mutation.kind}",
                                module,
                                buggy,
                                qualname,
                                mutation.kind,
                            )
                        )
                        found += 1
                        break
        if len(tasks) >= n:
            break
    return tasks


class Recording:
    """A proposer that keeps what the proposer it wraps proposed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.proposed: list[Proposal] = []

    def propose(self, obs: Observation) -> list[Proposal]:
        out = self.inner.propose(obs)
        self.proposed.extend(out)
        return list(out)


def run_arm(
    task: Task,
    scratch: Path,
    order: str,
    scorer: object,
    budget: int,
    prm_weight: float,
    max_candidates: int,
    label: str = "",
) -> tuple[bool, int, int, float, bool]:
    """(fixed, test runs, candidates, seconds, covered: a passing candidate was proposed)."""
    ws = scratch / f"{label or order}_{task.name.replace(':', '_').replace('.', '_')}"
    ws.mkdir()
    path = f"{task.module}.py"
    (ws / path).write_text(task.text, "utf-8")
    started = time.perf_counter()
    with (
        Analyzer(root=ws, timeout=120) as an,
        Sandbox(ws, test_cmd(task.module), timeout=20, memory_mb=2048) as sandbox,
    ):
        proposers = [
            Recording(MutationRepairs(max_per_file=max_candidates)),
            Recording(QuickFixes(an)),
        ]
        loop = RepairLoop(
            StepEngine(an, exec_mode="doctest"),
            proposers,
            sandbox,
            scorer=scorer if order == "reward" else None,
            prm_weight=prm_weight,
            budget=budget,
            order=order,
        )
        result = loop.repair([path])
    original = normalised_ast((STDLIB / path).read_text("utf-8"))
    covered = result.fixed or any(
        p.path == path and normalised_ast(p.new_text) == original
        for r in proposers
        for p in r.proposed
    )
    return result.fixed, result.test_runs, result.candidates, time.perf_counter() - started, covered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--per-module", type=int, default=2)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument(
        "--max-candidates",
        type=int,
        default=200,
        help="mutation repairs proposed per task (both arms see the same)",
    )
    parser.add_argument("--prm", default="auto")
    parser.add_argument("--prm-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    scorer, why_not = load_prm(args.prm, "auto")
    print(
        f"PRM: {'none (' + str(why_not) + ')' if scorer is None else scorer.describe().get('kind', 'loaded')}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        trained = scorer.meta.trained_sources if scorer is not None else frozenset()
        tasks = make_tasks(args.tasks, args.per_module, args.seed, scratch, exclude=trained)
        print(
            f"{len(tasks)} tasks from {len({t.module for t in tasks})} modules; budget {args.budget} test runs each"
        )
        print(
            f"{'task':<52} {'guided+PRM':>14} {'guided facts':>14} {'proposer order':>16} {'candidates':>11} {'covered':>8} {'guided s':>9}"
        )
        for task in tasks:
            guided = run_arm(
                task,
                scratch,
                "reward",
                scorer,
                args.budget,
                args.prm_weight,
                args.max_candidates,
                "prm",
            )
            facts = run_arm(
                task,
                scratch,
                "reward",
                None,
                args.budget,
                args.prm_weight,
                args.max_candidates,
                "facts",
            )
            baseline = run_arm(
                task, scratch, "proposer", None, args.budget, args.prm_weight, args.max_candidates
            )
            rows.append((task, guided, facts, baseline))

            def cell(r: tuple[bool, int, int, float, bool]) -> str:
                return f"{'fixed' if r[0] else 'miss '} {r[1]:>3} runs"

            print(
                f"{task.name[:52]:<52} {cell(guided):>14} {cell(facts):>14} {cell(baseline):>16} {guided[2]:>11} {'yes' if guided[4] else 'no':>8} {guided[3]:>9.1f}",
                flush=True,
            )
    names = ("guided+PRM", "guided facts", "proposer order")
    fixed = [sum(1 for row in rows if row[i + 1][0]) for i in range(3)]
    runs = [sum(row[i + 1][1] for row in rows) for i in range(3)]
    covered = sum(1 for row in rows if any(r[4] for r in row[1:]))
    print(
        "fixes found:     "
        + "   ".join(f"{n} {f}/{len(rows)}" for n, f in zip(names, fixed, strict=True))
    )
    print(f"coverage (is a passing candidate among the proposals): {covered}/{len(rows)}")
    print("test runs spent: " + "   ".join(f"{n} {r}" for n, r in zip(names, runs, strict=True)))
    all_fixed = [row for row in rows if all(r[0] for r in row[1:])]
    if all_fixed:
        medians = [statistics.median(row[i + 1][1] for row in all_fixed) for i in range(3)]
        print(
            f"on the {len(all_fixed)} tasks every arm fixed: median runs "
            + ", ".join(f"{n} {m}" for n, m in zip(names, medians, strict=True))
        )
    print(
        f"guided+PRM wall time per task (scoring plus its test runs): median {statistics.median(row[1][3] for row in rows):.1f} s"
    )


if __name__ == "__main__":
    main()
