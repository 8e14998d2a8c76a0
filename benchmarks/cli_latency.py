"""Per-edit `codeprm step` latency with the warm daemon versus without, side by side.

A copy of the installed `click` package is the workspace; each edit appends a line to
one of its modules (every third one a type error). For each edit the same command runs
twice, interleaved: once with CODEPRM_NO_DAEMON=1 (a fresh process and server), once
through the daemon. Prints medians and the ratio.

Run: python benchmarks/cli_latency.py [--edits N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def codeprm(*args: str, env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "codeprm", *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"codeprm {' '.join(args)} failed: {proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=15)
    args = parser.parse_args()
    spec = importlib.util.find_spec("click")
    assert spec and spec.origin
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        shutil.copytree(Path(spec.origin).parent, root / "click", ignore=shutil.ignore_patterns("__pycache__"))
        modules = sorted(p for p in (root / "click").glob("*.py") if p.name != "__init__.py")
        diffs = []
        for i in range(args.edits):
            target = modules[i % len(modules)]
            n = target.read_text().count("\n")
            line = f"_bench_{i}: int = 'x'" if i % 3 == 0 else f"_bench_{i}: int = {i}"
            rel = target.relative_to(root).as_posix()
            diff = Path(tmp) / f"e{i}.diff"
            diff.write_text(f"--- a/{rel}\n+++ b/{rel}\n@@ -{n},0 +{n + 1},1 @@\n+{line}\n")
            diffs.append(diff)
        codeprm("daemon", "start", "-w", str(root))
        try:
            codeprm("step", str(diffs[0]), "-w", str(root))  # the daemon's first call starts its server
            cold, warm = [], []
            for diff in diffs:
                cold.append(codeprm("step", str(diff), "-w", str(root), env={"CODEPRM_NO_DAEMON": "1"}))
                warm.append(codeprm("step", str(diff), "-w", str(root)))
        finally:
            codeprm("daemon", "stop", "-w", str(root))
    mc, mw = statistics.median(cold) * 1000, statistics.median(warm) * 1000
    print(f"workspace: click sources; {args.edits} edits, one per module in turn")
    print(f"  without daemon  median {mc:8.1f} ms  (min {min(cold) * 1000:.1f})")
    print(f"  with daemon     median {mw:8.1f} ms  (min {min(warm) * 1000:.1f})")
    print(f"ratio without/with = {mc / mw:.1f}x")


if __name__ == "__main__":
    main()
