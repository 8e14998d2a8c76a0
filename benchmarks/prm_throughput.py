"""PRM scoring speed: edits scored per second for the tiny model and SmolLM2, batch 1 and 16.

"cold": distinct steps from distinct bugs (nothing cached). "agent": 16 candidate edits from
one state (the context's KV cache and the code before the step are shared). CPU seconds per
edit are printed next to wall time because a shared machine makes wall time noisy.

With --device cuda: also tokens/s and model FLOP utilisation of SmolLM2 at large batch,
inference (bf16 weights) and training (float32 master weights, bf16 autocast, fused AdamW),
against the device's dense bf16 peak (--peak-tflops, default 989 for an H100 SXM). FLOPs
per token follow PaLM: 2N or 6N plus attention (4 or 12 * layers * hidden * length); the
last column counts the 2N / 6N term alone.

Usage: python benchmarks/prm_throughput.py [--steps 32] [--skip-smollm2] [--device cuda [--compile]]
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


def _flops_per_token(n_params: int, layers: int, hidden: int, length: int, train: bool) -> float:
    """PaLM's count: 2N (forward) or 6N (training) plus attention, 4 or 12 * L * d * T."""
    return (6 if train else 2) * n_params + (12 if train else 4) * layers * hidden * length


def mfu(
    path: Path,
    peak_tflops: float,
    infer_shapes: list[tuple[int, int]],
    train_shapes: list[tuple[int, int]],
    compile_model: bool = False,
    device: str = "cuda",
) -> list[dict]:
    """Tokens/s and model FLOP utilisation of SmolLM2, per (batch, length), on ``device``.

    Inference holds bf16 weights (as a GPU scorer would); training keeps float32 master
    weights under bf16 autocast with the fused AdamW step, as ``codeprm prm train`` does.
    On CUDA, timed with events over the repetitions after warm-up, with no host sync inside.
    (On CPU it runs too, with small shapes, so the code path can be checked without a GPU.)
    """
    import copy

    import torch

    from codeprm.prm.checkpoint import load_checkpoint
    from codeprm.prm.runtime import autocast

    model, _, _ = load_checkpoint(path, device)
    cuda = device.startswith("cuda")
    cfg = model.config
    n = sum(p.numel() for p in model.parameters())
    layers, hidden = cfg.num_hidden_layers, cfg.hidden_size
    peak = peak_tflops * 1e12
    out: list[dict] = []

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def timed(fn, reps: int) -> float:
        if not cuda:
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            return (time.perf_counter() - t) / reps
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000 / reps

    def measured(mode: str, batch: int, length: int, sec: float) -> dict:
        tps = batch * length / sec
        train = mode == "training"
        return {
            "mode": mode,
            "batch": batch,
            "length": length,
            "tokens_s": tps,
            "mfu": tps * _flops_per_token(n, layers, hidden, length, train) / peak,
            "mfu_n": (6 if train else 2) * n * tps / peak,
        }

    infer = copy.deepcopy(model).to(torch.bfloat16).eval()
    forward = torch.compile(infer) if compile_model else infer
    for batch, length in infer_shapes:
        ids = torch.randint(100, 1000, (batch, length), device=device)
        with torch.inference_mode():
            for _ in range(3):
                forward(input_ids=ids, use_cache=False)
            sync()
            sec = timed(lambda ids=ids: forward(input_ids=ids, use_cache=False), 10)
        out.append(measured("inference", batch, length, sec))
    infer = forward = None  # free the bf16 copy before training
    if cuda:
        torch.cuda.empty_cache()

    model.train()
    step_model = torch.compile(model) if compile_model else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)

    def train_step(ids) -> None:
        with autocast(device, torch.bfloat16):
            loss = step_model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for batch, length in train_shapes:
        ids = torch.randint(100, 1000, (batch, length), device=device)
        for _ in range(3):
            train_step(ids)
        sync()
        sec = timed(lambda ids=ids: train_step(ids), 5)
        out.append(measured("training", batch, length, sec))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--skip-smollm2", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--peak-tflops", type=float, default=989.0)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA MFU)")
    ap.add_argument("--mfu-only", action="store_true", help="only the CUDA tokens/s and MFU")
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
        for name, path in models.items() if not args.mfu_only else ():
            for workload, steps in (("cold", cold), ("agent", agent)):
                for bs in (1, 16, 64) if args.device.startswith("cuda") else (1, 16):
                    rate, cpu = measure(
                        lambda p=path, b=bs: load_scorer(p, args.device, batch_size=b), steps
                    )
                    print(f"{name:10} {workload:8} {bs:5d} {rate:9.2f} {cpu:11.3f}")
        if args.device.startswith("cuda") and "smollm2" in models:
            print(
                f"{torch.cuda.get_device_name()}, SmolLM2-135M, bf16, peak {args.peak_tflops:g} "
                f"TFLOP/s, compile={args.compile}"
            )
            print(
                f"{'mode':10} {'batch':>5} {'length':>6} {'tokens/s':>12} {'MFU':>6} {'MFU(N only)':>11}"
            )
            rows = mfu(
                models["smollm2"],
                args.peak_tflops,
                [(32, 512), (64, 1024), (128, 1024)],
                [(16, 1024), (32, 1024)],
                compile_model=args.compile,
            )
            for r in rows:
                print(
                    f"{r['mode']:10} {r['batch']:5d} {r['length']:6d} {r['tokens_s']:12,.0f} "
                    f"{r['mfu']:6.1%} {r['mfu_n']:11.1%}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
