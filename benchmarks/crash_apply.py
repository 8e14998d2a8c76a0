"""Crash-safety of codeprm's multi-file apply: SIGKILL it at random points, recover, check.

Each trial runs a 9-file transaction (modify, create in a new directory, delete, rename
with its mode kept, CRLF, UTF-8 BOM, UTF-16, an executable, a 480 KB file) in a child
process and kills it: at the k-th step of the write protocol (every step once, then k at
random, a quarter of the time also killing the recovery that follows), or by a timer
while the child toggles between the two states in a loop. After ``recover`` the whole
tree must be exactly the old state or exactly the new one, with no journal left.

Prints the trial count, the outcomes and the time; exits 1 if any trial is broken.
Run: python benchmarks/crash_apply.py [--trials 500] [--timer-share 0.2] [--workers 2]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

from codeprm.workspace import crashsim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument(
        "--timer-share", type=float, default=0.2, help="share of trials killed by a timer"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the workspaces go (default: tmpfs if any)"
    )
    args = parser.parse_args(argv)

    timer_trials = round(args.trials * args.timer_share)
    step_trials = args.trials - timer_trials
    parent = args.dir or (Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    base = Path(tempfile.mkdtemp(prefix="codeprm-crash-bench-", dir=parent))
    done = collections.Counter[str]()
    started = time.perf_counter()

    def progress(trial: crashsim.Trial) -> None:
        done[trial.outcome] += 1
        if trial.outcome == "broken":
            print(f"BROKEN: {trial}", file=sys.stderr, flush=True)
        total = sum(done.values())
        if total % 50 == 0:
            print(f"  {total} trials, {time.perf_counter() - started:.1f} s", flush=True)

    try:
        trials = crashsim.run_parallel(
            base,
            workers=args.workers,
            step_trials=step_trials,
            timer_trials=timer_trials,
            seed=args.seed,
            progress=progress,
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    elapsed = time.perf_counter() - started

    by_kind = collections.Counter((t.kind, t.outcome) for t in trials)
    rec_kills = sum(1 for t in trials if t.recovery_kill_at is not None)
    finished = sum(1 for t in trials if not t.killed)
    steps = sorted({t.kill_at for t in trials if t.kind == "step"})
    print(
        f"trials: {len(trials)} ({step_trials} step kills, {timer_trials} timer kills) in {elapsed:.1f} s"
    )
    print(f"kill points covered: {len(steps)} distinct protocol steps (1..{max(steps, default=0)})")
    print(f"recoveries also killed: {rec_kills}; applies that finished before the kill: {finished}")
    for (kind, outcome), n in sorted(by_kind.items()):
        print(f"  {kind:<5} {outcome:<6} {n}")
    broken = sum(1 for t in trials if t.outcome == "broken")
    print(f"all-old-or-all-new: {len(trials) - broken}/{len(trials)}; broken: {broken}")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
