"""The long fuzz run: >= 10,000 generated hostile inputs, no internal error, no hang.

Runs the targets of ``tests/fuzz_targets.py`` (selectors, diffs, WorkspaceEdits, trajectory
steps, bundles, traces, batch lines) in-process with hypothesis, ``--scale`` times the
quick test's case counts, each case under a deadline. Prints the cases run, the exit codes
seen (counts), hangs and exit 1s (both must be 0) and the time; exits 1 if either is not 0.

    python benchmarks/fuzz.py [--scale 6] [--seed 17] [--deadline 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.fuzz_targets

from hypothesis import HealthCheck, given, seed, settings

from tests import fuzz_targets
from tests.fuzz_targets import Target, Workspace, outcome, targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=6.0, help="multiple of the quick test's cases per target"
    )
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--deadline",
        type=float,
        default=fuzz_targets.CASE_DEADLINE,
        help="seconds per case before it is a hang",
    )
    args = parser.parse_args()

    ws = Workspace.create()
    codes: Counter[str] = Counter()
    bad: list[str] = []
    slowest: list[Any] = [0.0, "", ""]
    started = time.perf_counter()

    def fuzz(target: Target, counts: Counter[str]) -> None:
        @settings(
            max_examples=int(target.examples * args.scale),
            derandomize=False,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @seed(args.seed)
        @given(target.strategy(ws))
        def run(value: Any) -> None:
            t0 = time.perf_counter()
            code, detail = outcome(lambda: target.run(ws, value), seconds=args.deadline)
            took = time.perf_counter() - t0
            if took > slowest[0]:
                slowest[:] = [took, target.name, repr(value)[:80]]
            counts[str(code)] += 1
            codes[str(code)] += 1
            if code in (1, "hang") and len(bad) < 20:
                first = detail.splitlines()[0] if detail else ""
                bad.append(f"{target.name}: exit {code} on {value!r:.200}\n    {first}")

        run()

    try:
        for target in targets():
            counts: Counter[str] = Counter()
            t0 = time.perf_counter()
            fuzz(target, counts)
            took = time.perf_counter() - t0
            print(
                f"  {target.name:<14} {sum(counts.values()):>6} cases  {took:6.1f}s  {dict(sorted(counts.items()))}",
                flush=True,
            )
    finally:
        ws.close()
    elapsed = time.perf_counter() - started
    cases = sum(codes.values())
    print(f"cases: {cases}")
    print(
        "exit codes seen: "
        + ", ".join(
            f"{k}: {v}" for k, v in sorted(codes.items(), key=lambda kv: (len(kv[0]), kv[0]))
        )
    )
    print(f"hangs: {codes.get('hang', 0)}")
    print(f"exit 1s: {codes.get('1', 0)}")
    print(f"slowest case: {slowest[0]:.2f}s ({slowest[1]}: {slowest[2]})")
    print(f"time: {elapsed:.1f}s ({cases / elapsed:.0f} cases/s)")
    for line in bad:
        print("  " + line)
    return 1 if codes.get("1") or codes.get("hang") else 0


if __name__ == "__main__":
    sys.exit(main())
