"""Per-edit `codeprm step` latency with the warm daemon versus without, side by side.

A copy of the installed `click` package is the workspace; each edit appends a line to
one of its modules (every third one a type error). For each edit the same command runs
twice, interleaved: once with CODEPRM_NO_DAEMON=1 (a fresh process and server), once
through the daemon. Prints medians and the ratio, and splits the warm call into the
server's own check (``meta.serverMs``: time spent waiting on basedpyright's answers)
and what codeprm adds on top (process start, socket, parsing, measuring, rendering).

With ``--cold-rank N`` it also times a cold ``codeprm rank`` of the README demo (a fresh
process, no daemon) with the learned PRM (``--prm default``) and without it (``--prm
none``), N times each, interleaved, and prints the medians, their ratio and where the
PRM's extra time goes (import torch, import transformers, load the checkpoint, first
score; each cold, in a fresh process). ``--only-cold-rank`` skips the step rows.

Run: python benchmarks/cli_latency.py [--edits N] [--cold-rank N] [--only-cold-rank]
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


REPO = Path(__file__).resolve().parent.parent
DEMO = ["rank", "shop/stats.py", "--candidates", str(REPO / "examples/demo_candidates.jsonl"), "-w", str(REPO / "examples/demo")]

#: run in a fresh process: the PRM's cold start split into stages, as ``codeprm rank`` meets them
BREAKDOWN = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
from codeprm.prm import load_scorer
from codeprm.prm.records import StepInput
scorer = load_scorer(None, "cpu")
t2 = time.perf_counter()
scorer.score([StepInput(before="def f(x):\n    return x + 1\n", after="def f(x):\n    return x - 1\n", context="", task="", path="m.py")])
t3 = time.perf_counter()
heavy = sorted(m for m in ("transformers", "transformers.modeling_utils", "torch._dynamo", "torch.distributed.tensor") if m in sys.modules)
print(json.dumps({"torch": t1 - t0, "load": t2 - t1, "score": t3 - t2, "heavy": heavy}))
"""

IMPORT_TRANSFORMERS = r"""
import json, time
import torch
t0 = time.perf_counter()
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer
t1 = time.perf_counter()
print(json.dumps({"transformers": t1 - t0}))
"""


def python(code: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "CODEPRM_NO_DAEMON": "1"})
    if proc.returncode != 0:
        raise SystemExit(f"breakdown failed: {proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cold_rank(repeats: int) -> None:
    """Cold ``codeprm rank`` of the README demo, --prm default versus --prm none, interleaved."""
    env = {"CODEPRM_NO_DAEMON": "1"}
    with_prm, without, stages, imports, noise = [], [], [], [], []
    for _ in range(repeats):
        without.append(codeprm(*DEMO, "--prm", "none", env=env)[0])
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "codeprm", *DEMO, "--prm", "default"], capture_output=True, text=True, env={**os.environ, **env})
        with_prm.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"codeprm rank --prm default failed ({proc.returncode}): {proc.stderr}")
        if proc.stderr.strip():
            noise.append(proc.stderr.strip())
        stages.append(python(BREAKDOWN))
        imports.append(python(IMPORT_TRANSFORMERS)["transformers"])

    def med(values: list[float]) -> str:
        return f"median {statistics.median(values):7.2f} s  (min {min(values):6.2f})"

    mw, mn = statistics.median(with_prm), statistics.median(without)
    print(f"cold `codeprm rank` of the README demo, {repeats} runs each, interleaved (no daemon)")
    print(f"  --prm none               {med(without)}")
    print(f"  --prm default            {med(with_prm)}")
    print(f"ratio default/none = {mw / mn:.2f}x")
    print("  the PRM's cold start, in a fresh process each time:")
    print(f"    import torch           {med([s['torch'] for s in stages])}")
    print(f"    import transformers    {med(imports)}  (AutoModelForCausalLM, AutoTokenizer; after torch)")
    print(f"    load checkpoint        {med([s['load'] for s in stages])}  (load_scorer: everything after torch)")
    print(f"    first score            {med([s['score'] for s in stages])}")
    heavy = stages[-1]["heavy"]
    print(f"    loaded by the scorer   {', '.join(heavy) if heavy else 'none of transformers, torch._dynamo, torch.distributed.tensor'}")
    print(f"  stderr of --prm default: {'empty' if not noise else repr(noise[-1][:300])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=15)
    parser.add_argument("--cold-rank", type=int, default=0, metavar="N", help="also time N cold `codeprm rank` runs of the README demo with and without the PRM")
    parser.add_argument("--only-cold-rank", action="store_true", help="only the cold rank rows")
    args = parser.parse_args()
    if args.only_cold_rank:
        cold_rank(args.cold_rank or 5)
        return
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
    if args.cold_rank:
        print()
        cold_rank(args.cold_rank)


if __name__ == "__main__":
    main()
