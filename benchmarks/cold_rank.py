"""Cold `codeprm rank` of the README demo with the learned PRM versus without, side by side.

Each run is a fresh process with no daemon: ``--prm default`` and ``--prm none``, N times
each, interleaved; prints the medians, their ratio (the target is at most 3) and where the
PRM's extra time goes (import torch, import transformers, load the checkpoint, first
score; each cold, in a fresh process), and whether stderr stayed empty.
``benchmarks/cli_latency.py --cold-rank N`` runs it after its warm-step rows.

Run: python benchmarks/cold_rank.py [N]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def codeprm(*args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "codeprm", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"codeprm {' '.join(args)} failed: {proc.stderr}")
    return elapsed, proc.stdout


REPO = Path(__file__).resolve().parent.parent
DEMO = [
    "rank",
    "shop/stats.py",
    "--candidates",
    str(REPO / "examples/demo_candidates.jsonl"),
    "-w",
    str(REPO / "examples/demo"),
]

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
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "CODEPRM_NO_DAEMON": "1"},
    )
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
        proc = subprocess.run(
            [sys.executable, "-m", "codeprm", *DEMO, "--prm", "default"],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
        with_prm.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(
                f"codeprm rank --prm default failed ({proc.returncode}): {proc.stderr}"
            )
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
    print(
        f"    import transformers    {med(imports)}  (AutoModelForCausalLM, AutoTokenizer; after torch)"
    )
    print(
        f"    load checkpoint        {med([s['load'] for s in stages])}  (load_scorer: everything after torch)"
    )
    print(f"    first score            {med([s['score'] for s in stages])}")
    heavy = stages[-1]["heavy"]
    print(
        f"    loaded by the scorer   {', '.join(heavy) if heavy else 'none of transformers, torch._dynamo, torch.distributed.tensor'}"
    )
    print(f"  stderr of --prm default: {'empty' if not noise else repr(noise[-1][:300])}")


if __name__ == "__main__":
    cold_rank(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
