"""PRM scoring speed: edits scored per second for the tiny model and SmolLM2, batch 1 and 16.

"cold": distinct steps from distinct bugs (nothing cached). "agent": 16 candidate edits from
one state (the context's KV cache and the code before the step are shared). CPU seconds per
edit are printed next to wall time because a shared machine makes wall time noisy.

With CUDA: tokens/s and model FLOP utilisation for inference (2 * N * tokens/s) and
training (6 * N * tokens/s) against the device's dense bf16 peak (--peak-tflops, default
989 for an H100 SXM).

Usage: python benchmarks/prm_throughput.py [--steps 32] [--skip-smollm2]
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from codeprm.prm.data import MiningConfig, mine_corpus
from codeprm.prm.records import StepInput, group_by_bug

# OpenMP threads must sleep, not spin, when the cores are shared (see codeprm.prm.runtime)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def cold_steps(n: int) -> list[StepInput]:
    records = mine_corpus([STDLIB], MiningConfig(seed=7, force_split="test"), max_files=80)
    groups = list(group_by_bug(records).values())
    return [records[g[0]].to_input() for g in groups[:n]]


def agent_steps(n: int) -> list[StepInput]:
    records = mine_corpus(
        [STDLIB], MiningConfig(seed=7, bad_per_bug=n - 1, force_split="test"), max_files=20
    )
    groups = sorted(group_by_bug(records).values(), key=len, reverse=True)
    return [records[i].to_input() for i in groups[0]]


def measure(scorer_factory, steps: list[StepInput]) -> tuple[float, float]:
    scorer = scorer_factory()
    scorer.score(steps[:1])  # warm-up (allocations, first-call costs)
    scorer.cache.data.clear()
    scorer.prefix_cache.data.clear()
    w, c = time.perf_counter(), time.process_time()
    scorer.score(steps)
    return len(steps) / (time.perf_counter() - w), (time.process_time() - c) / len(steps)


def tiny_checkpoint(tmp: Path, texts: list[str]) -> Path:
    from codeprm.prm.calibrate import Calibration
    from codeprm.prm.checkpoint import CheckpointMeta, save_checkpoint
    from codeprm.prm.model import TinyConfig, tiny_classifier
    from codeprm.prm.train import train_tokenizer

    tok = train_tokenizer(texts, 4096)
    model = tiny_classifier(
        TinyConfig(),
        vocab_size=len(tok),
        pad_id=tok.pad_token_id,
        bos_id=tok.bos_token_id,
        eos_id=tok.eos_token_id,
    )
    meta = CheckpointMeta(
        kind="classifier", calibration=Calibration(("logit",), (1.0,)), max_length=384
    )
    save_checkpoint(tmp / "tiny", model, tok, meta)
    return tmp / "tiny"


def cuda_mfu(path: Path, peak_tflops: float, batch: int, length: int) -> None:
    import torch

    from codeprm.prm.checkpoint import load_checkpoint

    model, _, _ = load_checkpoint(path, "cuda")
    n = sum(p.numel() for p in model.parameters())
    ids = torch.randint(100, 1000, (batch, length), device="cuda")
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(3):
            model(input_ids=ids)
        torch.cuda.synchronize()
        t = time.perf_counter()
        reps = 10
        for _ in range(reps):
            model(input_ids=ids)
        torch.cuda.synchronize()
    tps = reps * batch * length / (time.perf_counter() - t)
    print(
        f"  inference: {tps:,.0f} tokens/s, MFU {2 * n * tps / (peak_tflops * 1e12):.1%} (N={n / 1e6:.0f}M)"
    )
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    for i in range(8):
        if i == 3:
            torch.cuda.synchronize()
            t = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    tps = 5 * batch * length / (time.perf_counter() - t)
    print(f"  training:  {tps:,.0f} tokens/s, MFU {6 * n * tps / (peak_tflops * 1e12):.1%}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--skip-smollm2", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--peak-tflops", type=float, default=989.0)
    args = ap.parse_args()

    import torch

    from codeprm.prm.fetch import default_dest
    from codeprm.prm.infer import load_scorer
    from codeprm.prm.text import classifier_text

    cold = cold_steps(args.steps)
    agent = agent_steps(16)
    print(
        f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"cuda={torch.cuda.is_available()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'model':10} {'workload':8} {'batch':>5} {'edits/s':>9} {'cpu-s/edit':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        models = {"tiny": tiny_checkpoint(Path(tmp), [classifier_text(s) for s in cold + agent])}
        smol = default_dest()
        if not args.skip_smollm2 and (smol / "config.json").is_file():
            models["smollm2"] = smol
        for name, path in models.items():
            for workload, steps in (("cold", cold), ("agent", agent)):
                for bs in (1, 16):
                    rate, cpu = measure(
                        lambda p=path, b=bs: load_scorer(p, args.device, batch_size=b), steps
                    )
                    print(f"{name:10} {workload:8} {bs:5d} {rate:9.2f} {cpu:11.3f}")
        if torch.cuda.is_available() and "smollm2" in models:
            print("cuda, SmolLM2-135M, batch 32 x 512 tokens, bf16 autocast:")
            cuda_mfu(models["smollm2"], args.peak_tflops, 32, 512)
    return 0


if __name__ == "__main__":
    sys.exit(main())
