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
"""

from __future__ import annotations

import argparse
import io
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
from codeprm.rewards.replay import read_bundles, rescore
from codeprm.workspace.history import commit_steps

CACHE = Path.home() / ".cache" / "codeprm" / "bench"
OLD, NEW = "23.2.1", "24.0"


def wheel_sources(version: str) -> dict[str, str]:
    CACHE.mkdir(parents=True, exist_ok=True)
    wheel = CACHE / f"pip-{version}-py3-none-any.whl"
    if not wheel.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(CACHE), f"pip=={version}"], check=True)
    out = {}
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith("pip/_internal/") and name.endswith(".py"):
                out[name] = io.TextIOWrapper(z.open(name), encoding="utf-8").read()
    return out


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args], cwd=repo, check=True, capture_output=True)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument("--cold", type=int, default=None, help="time only this many cold commits and scale (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        rev_range, lines = build_repo(root, args.commits)
        history = commit_steps(root, rev_range)
        steps = [TrajectoryStep(c.change, 1.0, {"commit": c.sha}) for c in history.steps]
        print(f"repository: pip/_internal {OLD} ({len(history.base_texts)} files, {lines} lines) + {len(steps)} commits to {NEW}")

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

    print(f"  warm (one session)          {warm:8.1f} s   {warm / len(steps) * 1000:8.1f} ms/commit")
    print(f"  cold (server per commit)    {cold:8.1f} s   {cold / len(steps) * 1000:8.1f} ms/commit" + (f"  (timed {cold_n}, scaled)" if cold_n < len(steps) else ""))
    print(f"ratio cold/warm = {cold / warm:.1f}x")
    print(f"offline replay: {rounds * len(bundles) / replay:.0f} steps/s (validation of schema and bundle id included)")


if __name__ == "__main__":
    main()
