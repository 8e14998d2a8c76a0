"""Repair tasks, three arms side by side: the reward-guided loop with the learned PRM (the
default), with ``--prm none``, and proposer order.

Every arm runs codeprm's own ``RepairLoop`` (``codeprm.agents.loop``) as ``codeprm agent
repair`` does (``--exec doctest``, the weights ``reward_weights`` picks: the checkpoint's
fitted combiner with the PRM, the built-in defaults with ``--prm none``) on the same
proposals (mutation repairs of the functions the failing tests call, and quick fixes)
with the same budget of test runs (the baseline run included). The guided arms try the
candidates best reward first, the baseline in proposer order. Printed side by side: fixes
found, test runs spent, wall time; next to the fix rate, coverage: is a passing candidate
among the proposals (the reference fix up to its AST, or a fix some arm found); and the
test run at which each arm's order reaches the reference fix. A ranking cannot pick a fix
that was never proposed.

Two task sets:

* the standard library (default): one pure-Python module copied into a scratch workspace
  with one injected bug (a mutation of a function its CPython tests call, kept only when
  it makes those tests fail); the module's own CPython test file is the test command and
  the original module the reference fix.
* BugsInPy (``--bugsinpy``): the buggy commit exported into a scratch workspace with the
  fix commit's test files overlaid, the bug's failing tests from its ``run_test.sh`` as the
  test command, run under the bug's environment (``benchmarks/real_bugs.py``: ``--envs``,
  ``bug_test_command``; a command naming tests, as ``execfacts.command_tests`` reads
  ``--test-cmd``); the developer's fix is the reference. A bug is run only when its tests
  run here: the buggy state fails them and the fixed state passes them (checked first,
  outside the arms' budgets).

Run: python benchmarks/repair.py [--tasks 20] [--budget 30] [--max-candidates 200] [--prm auto|none|PATH]
     python benchmarks/repair.py --bugsinpy /work/.mirror/soarsmu+BugsInPy/repo \\
         --repo thefuck=/work/.mirror/nvbn+thefuck/repo --repo luigi=/work/.mirror/spotify+luigi/repo \\
         --envs /work/scratch-realexec/envs_final --bugs thefuck-3,luigi-13 [--budget 30]
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
from codeprm.analysis.learned import load_prm, reward_weights
from codeprm.analysis.navigate import Analyzer
from codeprm.analysis.step import StepEngine
from codeprm.prm.mutate import enumerate_mutations, normalised_ast
from codeprm.rewards.functional import Weights

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


@dataclass(frozen=True)
class Arm:
    """One arm's run on one task."""

    fixed: bool
    runs: int  # test runs spent, the baseline run included
    candidates: int
    seconds: float
    #: the reference fix (up to its AST) is among the proposals, or this arm fixed the task
    covered: bool
    #: the test run (baseline counted) at which this arm's order reaches the reference fix;
    #: None: not proposed, or skipped by early rejection
    reference_at: int | None
    fix_id: str | None


@dataclass(frozen=True)
class Setting:
    """What every arm shares: the proposals' bound and the budget of test runs."""

    budget: int
    max_candidates: int
    test_timeout: float = 20.0
    memory_mb: float = 2048.0


def run_arm(
    ws: Path,
    path: str,
    command: str,
    reference: str,
    order: str,
    scorer: object,
    weights: tuple[Weights, float],
    setting: Setting,
) -> Arm:
    """codeprm's RepairLoop on ``path`` of the workspace ``ws`` (left unchanged) until ``command`` passes.

    ``order`` "reward" ranks the candidates by the combined reward (``scorer`` None: facts
    only), "proposer" tries them as proposed. ``reference`` is the known-good text of ``path``.
    """
    started = time.perf_counter()
    events: list[dict[str, Any]] = []
    with (
        Analyzer(root=ws, timeout=120) as an,
        Sandbox(ws, command, timeout=setting.test_timeout, memory_mb=setting.memory_mb) as sandbox,
    ):
        proposers = [
            Recording(MutationRepairs(max_per_file=setting.max_candidates)),
            Recording(QuickFixes(an)),
        ]
        loop = RepairLoop(
            StepEngine(an, weights=weights[0], exec_mode="doctest"),
            proposers,
            sandbox,
            scorer=scorer if order == "reward" else None,
            prm_weight=weights[1],
            budget=setting.budget,
            order=order,
            on_event=events.append,
        )
        result = loop.repair([path])
    want = normalised_ast(reference)
    matches = {
        p.id
        for r in proposers
        for p in r.proposed
        if p.path == path and normalised_ast(p.new_text) == want
    }
    reference_at = None
    runs = 1  # the baseline
    for event in events:
        if event["event"] != "scored" or reference_at is not None:
            continue
        for c in event["candidates"]:
            if c["deterministic"] is not None and c["deterministic"] < loop.min_reward:
                continue  # early rejection: never verified
            runs += 1
            if c["id"] in matches:
                reference_at = runs
                break
    return Arm(
        result.fixed,
        result.test_runs,
        result.candidates,
        time.perf_counter() - started,
        result.fixed or bool(matches),
        reference_at,
        None if result.fix is None else result.fix.id,
    )


ARMS = ("default PRM", "--prm none", "proposer order")


def run_arms(
    ws: Path,
    path: str,
    command: str,
    reference: str,
    scorer: object,
    prm_weight: float | None,
    setting: Setting,
) -> tuple[Arm, Arm, Arm]:
    """The three arms on one task: the same proposals, budget and test command.

    The guided arms' weights are what ``codeprm agent repair`` uses: the checkpoint's fitted
    combiner with the PRM, the built-in defaults with ``--prm none`` (``reward_weights``).
    """
    with_prm = reward_weights(scorer, None, prm_weight)
    facts = reward_weights(None, None, prm_weight)
    return (
        run_arm(ws, path, command, reference, "reward", scorer, with_prm, setting),
        run_arm(ws, path, command, reference, "reward", None, facts, setting),
        run_arm(ws, path, command, reference, "proposer", None, facts, setting),
    )


def cell(r: Arm) -> str:
    return f"{'fixed' if r.fixed else 'miss '} {r.runs:>3} runs"


def at(r: Arm) -> str:
    return "-" if r.reference_at is None else str(r.reference_at)


HEADER = (
    f"{'task':<44} {'default PRM':>14} {'--prm none':>14} {'proposer order':>14} "
    f"{'cands':>5} {'cov':>3} {'ref at (PRM/none/order)':>23} {'s PRM/none/order':>17}"
)


def line(name: str, arms: tuple[Arm, Arm, Arm]) -> str:
    refs = "/".join(at(a) for a in arms)
    secs = "/".join(f"{a.seconds:.0f}" for a in arms)
    return (
        f"{name[:44]:<44} {cell(arms[0]):>14} {cell(arms[1]):>14} {cell(arms[2]):>14} "
        f"{arms[0].candidates:>5} {'yes' if any(a.covered for a in arms) else 'no':>3} {refs:>23} {secs:>17}"
    )


def summary(rows: list[tuple[str, tuple[Arm, Arm, Arm]]]) -> None:
    n = len(rows)
    fixed = [sum(1 for _, arms in rows if arms[i].fixed) for i in range(3)]
    runs = [sum(arms[i].runs for _, arms in rows) for i in range(3)]
    seconds = [sum(arms[i].seconds for _, arms in rows) for i in range(3)]
    covered = sum(1 for _, arms in rows if any(a.covered for a in arms))
    print(
        "fixes found:     " + "   ".join(f"{a} {f}/{n}" for a, f in zip(ARMS, fixed, strict=True))
    )
    print(f"coverage (a passing candidate is among the proposals): {covered}/{n}")
    print("test runs spent: " + "   ".join(f"{a} {r}" for a, r in zip(ARMS, runs, strict=True)))
    print(
        "wall time:       "
        + "   ".join(f"{a} {s:.0f} s" for a, s in zip(ARMS, seconds, strict=True))
    )
    all_fixed = [arms for _, arms in rows if all(a.fixed for a in arms)]
    if all_fixed:
        medians = [statistics.median(arms[i].runs for arms in all_fixed) for i in range(3)]
        print(
            f"on the {len(all_fixed)} tasks every arm fixed: median runs "
            + ", ".join(f"{a} {m}" for a, m in zip(ARMS, medians, strict=True))
        )
    met = all(fixed[0] >= fixed[i] for i in (1, 2)) and all(runs[0] < runs[i] for i in (1, 2))
    print(
        f"target (the default arm fixes at least as many as each other arm, with fewer test runs): {'met' if met else 'NOT met'}"
    )
    print(
        "runs: test runs spent, the baseline run included (a miss spends the budget or runs out of "
        "candidates); cov: the reference fix (up to its AST) is among the proposals, or an arm fixed the "
        "task; ref at: the test run at which the arm's order reaches the reference fix (-: not proposed "
        "or early-rejected)"
    )


def stdlib_mode(
    args: argparse.Namespace, scorer: Any, scratch: Path
) -> list[tuple[str, tuple[Arm, Arm, Arm]]]:
    setting = Setting(args.budget, args.max_candidates)
    trained = scorer.meta.trained_sources if scorer is not None else frozenset()
    tasks = make_tasks(args.tasks, args.per_module, args.seed, scratch, exclude=trained)
    print(
        f"{len(tasks)} tasks from {len({t.module for t in tasks})} modules; budget {args.budget} test runs each"
    )
    print(HEADER)
    rows = []
    for task in tasks:
        ws = scratch / task.name.replace(":", "_").replace(".", "_")
        ws.mkdir()
        path = f"{task.module}.py"
        (ws / path).write_text(task.text, "utf-8")
        reference = (STDLIB / path).read_text("utf-8")
        arms = run_arms(
            ws, path, test_cmd(task.module), reference, scorer, args.prm_weight, setting
        )
        rows.append((task.name, arms))
        print(line(task.name, arms), flush=True)
    return rows


def bugsinpy_mode(
    args: argparse.Namespace, scorer: Any, scratch: Path
) -> list[tuple[str, tuple[Arm, Arm, Arm]]]:
    """The named BugsInPy bugs: the buggy commit with the fix's tests, the bug's failing tests as the command."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import real_bugs as rb

    setting = Setting(args.budget, args.max_candidates, args.test_timeout, 4096.0)
    repos = dict(x.split("=", 1) for x in args.repo)
    wanted = [b for b in args.bugs.split(",") if b]
    known = {f"{p}-{b.number}": b for p in repos for b in rb.read_bugs(args.bugsinpy, p)}
    print(
        f"{len(wanted)} bugs; budget {args.budget} test runs each; held out for tuning: {', '.join(sorted(args.held_out))}"
    )
    print(HEADER)
    rows = []
    for name in wanted:
        bug = known.get(name)
        if bug is None:
            print(f"{name}: not a one-file fix in BugsInPy (or no --repo for its project): skipped")
            continue
        python = rb.bug_python(args.envs, bug)
        command = rb.bug_test_command(args.bugsinpy, bug, str(python)) if python else None
        if command is None:
            print(
                f"{name}: no environment in {args.envs} or no run_test.sh of a known form: skipped"
            )
            continue
        # one shell command: every line must pass, not only the last
        command = " && ".join(command.splitlines())
        ws = scratch / name
        ws.mkdir()
        gitdir = Path(repos[bug.project])
        rb.export(gitdir, bug.buggy_commit, ws)
        rb.overlay_tests(gitdir, bug, ws)
        buggy = (ws / bug.path).read_text("utf-8")
        fixed = rb.apply_fix(bug.path, buggy, bug.patch)
        if fixed is None:
            print(f"{name}: the fix does not apply: skipped")
            continue
        # the bug's tests run here: the buggy state fails them, the fixed state passes them
        with Sandbox(
            ws, command, timeout=setting.test_timeout, memory_mb=setting.memory_mb
        ) as sandbox:
            fails = not sandbox.run().passed
            sandbox.set_texts({bug.path: fixed})
            passes = sandbox.run().passed
        if not (fails and passes):
            print(
                f"{name}: its tests do not run here (buggy fails: {fails}, fixed passes: {passes}): skipped"
            )
            continue
        label = f"{name}{' (held out)' if bug.project in args.held_out else ''}"
        arms = run_arms(ws, bug.path, command, fixed, scorer, args.prm_weight, setting)
        rows.append((label, arms))
        print(line(label, arms), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--per-module", type=int, default=2)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument(
        "--max-candidates",
        type=int,
        default=200,
        help="mutation repairs proposed per task (every arm sees the same)",
    )
    parser.add_argument("--prm", default="auto")
    parser.add_argument(
        "--prm-weight",
        type=float,
        default=None,
        help="default: the checkpoint's fitted combiner, as codeprm agent repair",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--bugsinpy",
        type=Path,
        default=None,
        help="BugsInPy checkout or bare git repository: BugsInPy mode",
    )
    parser.add_argument("--repo", action="append", default=[], metavar="NAME=GITDIR")
    parser.add_argument(
        "--envs", type=Path, default=None, help="per-bug environments (benchmarks/real_bugs.py)"
    )
    parser.add_argument(
        "--bugs", default="", help="BugsInPy mode: these bugs, e.g. thefuck-1,tqdm-1"
    )
    parser.add_argument(
        "--held-out",
        default="tqdm,thefuck,httpie,cookiecutter,luigi",
        type=lambda s: frozenset(x for x in s.split(",") if x),
        help="projects never used to tune codeprm (labelled in the table)",
    )
    parser.add_argument(
        "--test-timeout", type=float, default=60.0, help="BugsInPy mode: seconds per test run"
    )
    args = parser.parse_args()
    if args.bugsinpy is not None and not (args.repo and args.bugs and args.envs):
        parser.error("--bugsinpy needs --repo, --bugs and --envs")
    scorer, why_not = load_prm(args.prm, "auto")
    print(
        f"PRM: {'none (' + str(why_not) + ')' if scorer is None else scorer.describe().get('kind', 'loaded')}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="repair-bench-") as tmp:
        mode = bugsinpy_mode if args.bugsinpy is not None else stdlib_mode
        rows = mode(args, scorer, Path(tmp))
    summary(rows)
    print(f"total wall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
