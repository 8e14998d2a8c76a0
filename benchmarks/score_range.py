"""Scoring a 50-commit range: one warm session versus one server start per commit.

The repository is built from real code: pip's `_internal` package at 23.2.1 is the base
commit, and each following commit brings one changed module to its 24.0 text (the real
upstream evolution, one file per commit, in path order). Both wheels come from PyPI
(cached under ~/.cache/codeprm/bench).

Side by side in one run:
  warm   one Analyzer, every commit scored in turn (what `codeprm score --rev-range` does)
  cold   a fresh server per commit, scoring that commit alone
and the offline counterfactual replay throughput (steps per second) of the warm run's
bundles re-scored under other weights, bundle validation included.

Run: python benchmarks/score_range.py [--commits 50]

With --repos, it scores real history instead: the last --commits first-parent commits of
each repository given (a bare mirror or a clone; it is cloned into a temporary
directory, never written) and reports, per repository:
  unsafe     commits marked unsafe (git applied every one of them: must be 0)
  agreement  for --sample commits drawn with a fixed seed, whether the state's error
             and warning counts equal those of `codeprm diag --json` run on a checkout of
             that commit (must be all)
  time       seconds per commit of the scoring (one warm session)

Run: python benchmarks/score_range.py --repos /work/.mirror/pallets+click/repo ... [--commits 50 --sample 10]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from codeprm.analysis.navigate import Analyzer
from codeprm.analysis.step import StepEngine
from codeprm.analysis.trajectory import TrajectoryStep, score
from codeprm.bundles import canonical_bytes
from codeprm.rewards import Weights
from codeprm.rewards.rescore import read_bundles, rescore
from codeprm.workspace.history import commit_steps

CACHE = Path.home() / ".cache" / "codeprm" / "bench"
OLD, NEW = "23.2.1", "24.0"


def wheel_sources(version: str) -> dict[str, str]:
    CACHE.mkdir(parents=True, exist_ok=True)
    wheel = CACHE / f"pip-{version}-py3-none-any.whl"
    if not wheel.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "-d",
                str(CACHE),
                f"pip=={version}",
            ],
            check=True,
        )
    out = {}
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith("pip/_internal/") and name.endswith(".py"):
                out[name] = io.TextIOWrapper(z.open(name), encoding="utf-8").read()
    return out


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def build_repo(root: Path, commits: int) -> tuple[str, int]:
    old, new = wheel_sources(OLD), wheel_sources(NEW)
    for path, text in old.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", f"pip {OLD}")
    changed = sorted(p for p in new if p in old and new[p] != old[p])[:commits]
    for path in changed:
        (root / path).write_text(new[path])
        git(root, "commit", "-qam", f"{path}: as in pip {NEW}")
    lines = sum(t.count("\n") for t in old.values())
    return f"HEAD~{len(changed)}..HEAD", lines


def diag_counts(checkout: Path) -> dict[str, int]:
    """The counts of `codeprm diag --json` on a checkout (a fresh process and server)."""
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "codeprm",
            "diag",
            "-w",
            str(checkout),
            "--json",
            "--timeout",
            "300",
        ],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise SystemExit(f"diag failed on {checkout}: {r.stderr.strip()}")
    return json.loads(r.stdout)["facts"]["counts"]


def real_history(source: Path, commits: int, sample: int, tmp: Path) -> dict[str, object]:
    from codeprm.analysis.revrange import score_range

    name = source.parent.name if source.name == "repo" else source.name
    clone = tmp / name.replace("+", "-")
    subprocess.run(["git", "clone", "-q", str(source), str(clone)], check=True)
    total = int(
        subprocess.run(
            ["git", "rev-list", "--first-parent", "--count", "HEAD"],
            cwd=clone,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    n = min(commits, total - 1)
    t0 = time.perf_counter()
    history = commit_steps(clone, f"HEAD~{n}..HEAD")
    read = time.perf_counter() - t0
    t0 = time.perf_counter()
    bundles = score_range(clone, history, lambda an: StepEngine(an), timeout=300)
    scored = time.perf_counter() - t0
    unsafe = [b["meta"]["commit"][:10] for b in bundles if not b["facts"]["safety"]["passed"]]
    print(
        f"{name}: HEAD~{n}..HEAD ({history.steps[-1].sha[:10]}), {len(history.base_texts)} tracked files at the base",
        flush=True,
    )
    print(f"  unsafe commits: {len(unsafe)} {unsafe if unsafe else ''}", flush=True)
    print(
        f"  reading the range {read:.1f} s; scoring {scored:.1f} s = {scored / n:.2f} s/commit",
        flush=True,
    )
    picks = sorted(random.Random(13).sample(range(len(bundles)), min(sample, len(bundles))))
    agree = 0
    for i in picks:
        sha = bundles[i]["meta"]["commit"]
        checkout = tmp / f"{clone.name}-{sha[:10]}"
        subprocess.run(
            ["git", "worktree", "add", "-q", "--detach", str(checkout), sha], cwd=clone, check=True
        )
        want = diag_counts(checkout)
        got = bundles[i]["facts"]["after"]["counts"]
        same = (got["error"], got["warning"]) == (want["error"], want["warning"])
        agree += same
        print(
            f"    {sha[:10]}  score {got['error']:4d} errors {got['warning']:4d} warnings   diag {want['error']:4d} errors {want['warning']:4d} warnings  {'ok' if same else 'DIFFERENT'}",
            flush=True,
        )
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(checkout)], cwd=clone, check=True
        )
    print(f"  agreement with diag on a checkout: {agree}/{len(picks)}", flush=True)
    return {
        "repo": name,
        "commits": n,
        "unsafe": len(unsafe),
        "agree": agree,
        "sampled": len(picks),
        "s_per_commit": scored / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument(
        "--cold",
        type=int,
        default=None,
        help="time only this many cold commits and scale (default: all)",
    )
    parser.add_argument(
        "--repos",
        nargs="+",
        type=Path,
        help="score the last --commits commits of these repositories (mirrors or clones)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=10,
        help="with --repos: commits checked against diag on a checkout",
    )
    args = parser.parse_args()
    if args.repos:
        with tempfile.TemporaryDirectory() as tmp:
            results = [
                real_history(repo.resolve(), args.commits, args.sample, Path(tmp))
                for repo in args.repos
            ]
        print(json.dumps(results, sort_keys=True))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        rev_range, lines = build_repo(root, args.commits)
        history = commit_steps(root, rev_range)
        steps = [TrajectoryStep(c.change, 1.0, {"commit": c.sha}) for c in history.steps]
        print(
            f"repository: pip/_internal {OLD} ({len(history.base_texts)} files, {lines} lines) + {len(steps)} commits to {NEW}"
        )

        t0 = time.perf_counter()
        with Analyzer(root=root, timeout=300) as an:
            bundles = score(StepEngine(an), history.base_texts, steps)
        warm = time.perf_counter() - t0

        cold_n = min(args.cold or len(steps), len(steps))
        t0 = time.perf_counter()
        state = dict(history.base_texts)
        for step in steps[:cold_n]:
            with Analyzer(root=root, timeout=300) as an:
                score(StepEngine(an), state, [step])
            state = {**state, **step.change.new_texts()}
            for path in step.change.paths:
                if step.change.get(path).new_text is None:  # type: ignore[union-attr]
                    state.pop(path, None)
        cold = (time.perf_counter() - t0) * len(steps) / cold_n

        jsonl = Path(tmp) / "bundles.jsonl"
        jsonl.write_bytes(b"".join(canonical_bytes(b) + b"\n" for b in bundles))
        rounds = 20
        t0 = time.perf_counter()
        for i in range(rounds):
            rescore(read_bundles(jsonl), Weights(a=1.0 + i))
        replay = time.perf_counter() - t0

    print(
        f"  warm (one session)          {warm:8.1f} s   {warm / len(steps) * 1000:8.1f} ms/commit"
    )
    print(
        f"  cold (server per commit)    {cold:8.1f} s   {cold / len(steps) * 1000:8.1f} ms/commit"
        + (f"  (timed {cold_n}, scaled)" if cold_n < len(steps) else "")
    )
    print(f"ratio cold/warm = {cold / warm:.1f}x")
    print(
        f"offline replay: {rounds * len(bundles) / replay:.0f} steps/s (validation of schema and bundle id included)"
    )


if __name__ == "__main__":
    main()
