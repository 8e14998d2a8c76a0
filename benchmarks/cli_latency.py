"""Per-edit `codeprm step` latency with the warm daemon versus without, side by side.

A copy of the installed `click` package is the workspace; each edit appends a line to
one of its modules (every third one a type error). For each edit the same command runs
twice, interleaved: once with CODEPRM_NO_DAEMON=1 (a fresh process and server), once
through the daemon. Prints medians and the ratio, and splits the warm call into the
server's own check (``meta.serverMs``: time spent waiting on basedpyright's answers)
and what codeprm adds on top (process start, socket, parsing, measuring, rendering).

Run: python benchmarks/cli_latency.py [--edits N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def codeprm(*args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "codeprm", *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"codeprm {' '.join(args)} failed: {proc.stderr}")
    return elapsed, proc.stdout


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
            cold, warm, server, added = [], [], [], []
            for diff in diffs:
                cold.append(codeprm("step", str(diff), "-w", str(root), "--json", env={"CODEPRM_NO_DAEMON": "1"})[0])
                elapsed, out = codeprm("step", str(diff), "-w", str(root), "--json")
                warm.append(elapsed)
                server_ms = float(json.loads(out)["meta"]["serverMs"])
                server.append(server_ms / 1000)
                added.append(elapsed - server_ms / 1000)
        finally:
            codeprm("daemon", "stop", "-w", str(root))

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:8.1f} ms  (min {min(values) * 1000:7.1f})"

    mc, mw = statistics.median(cold), statistics.median(warm)
    print(f"workspace: click sources; {args.edits} edits, one per module in turn")
    print(f"  without daemon           {ms(cold)}")
    print(f"  with daemon              {ms(warm)}")
    print(f"    of which server check  {ms(server)}")
    print(f"    codeprm's own cost     {ms(added)}")
    print(f"ratio without/with = {mc / mw:.1f}x")


if __name__ == "__main__":
    main()
