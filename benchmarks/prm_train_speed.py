"""PRM training speed with and without length-bucketed batches, side by side in one run.

A batch holds whole bugs and is padded to its longest row. Bucketing sorts bugs by length
within pools of batches and then shuffles the batches. Both arms train the same model from
the same start on the same stdlib train records for the same number of steps. Printed per
arm: real (unpadded) tokens trained on per second, the padding overhead (tokens run per
real token) and the last loss; then the speed-up in real tokens per second.

Usage: python benchmarks/prm_train_speed.py [--model tiny|smollm2] [--steps 8] [--batch-bugs 8]
       [--length 512] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import sys
import sysconfig
import tempfile
from pathlib import Path

from codeprm.prm.data import MiningConfig, mine_corpus

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
STDLIB = Path(sysconfig.get_paths()["stdlib"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("tiny", "smollm2"), default="tiny")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch-bugs", type=int, default=8)
    ap.add_argument("--length", type=int, default=512, help="training crop (tokens)")
    ap.add_argument("--files", type=int, default=300, help="stdlib files to mine")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    from codeprm.prm.fetch import default_dest
    from codeprm.prm.train import TrainConfig, train

    records = [
        r
        for r in mine_corpus([STDLIB], MiningConfig(seed=0), max_files=args.files)
        if r.split in ("train", "valid")
    ]
    smol = args.model == "smollm2"
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for bucket in (False, True):
            config = TrainConfig(
                kind="zero-shot" if smol else "classifier",
                steps=args.steps,
                batch_bugs=args.batch_bugs,
                lr=2e-5 if smol else 1e-3,
                max_length=1024 if smol else args.length,
                train_length=args.length,
                device=args.device,
                bucket=bucket,
                log_every=args.steps,
                calibration_max=40,
            )
            res = train(
                records,
                Path(tmp) / f"b{bucket}",
                config,
                base_model=default_dest() if smol else None,
            )
            results[bucket] = res
            t = res.meta.training
            print(
                f"{'bucketed' if bucket else 'shuffled':9} {res.steps_done} steps, "
                f"{res.rows_seen} rows, {t['tokens_seen']} tokens in {res.seconds:.1f}s: "
                f"{t['tokens_seen'] / res.seconds:9.1f} tokens/s, padding {t['padding']:.2f}x, "
                f"last loss {res.losses[-1]:.4f}"
            )

    def rate(res) -> float:
        return res.meta.training["tokens_seen"] / res.seconds

    plain, bucketed = results[False], results[True]
    print(
        f"{args.model}, {args.batch_bugs} bugs per batch, crop {args.length}, {args.device}: "
        f"bucketing trains {rate(bucketed) / rate(plain):.2f}x the real tokens per second "
        f"(padding {plain.meta.training['padding']:.2f}x -> {bucketed.meta.training['padding']:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
