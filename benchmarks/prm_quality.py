"""PRM quality on our own held-out repair steps: AUROC, ECE and best-of-N top-1 per bug.

Held-out sets, never trained or tuned on:
  A  stdlib files in the test split (split by a hash of the path: no file is in two splits),
  B  code of installed packages (default: pygls, httpx2, httpcore2, typer, gguf), all of it
     held out; recent releases, although parts may derive from older code a base model saw.

The valid split (calibration of every scorer, and the combination's weight) is stdlib files
in the valid split plus other installed packages (click, jsonschema, rich, attrs): --cal-bugs
bugs from each. Nothing is tuned on A or B.

Scorers:
  smollm2 zero-shot   log p(after) - log p(before) + length correction, Platt-calibrated on
                      the *valid* split (run 'codeprm prm fetch' first)
  smollm2 no-len      the raw log-likelihood delta (shows what the length correction buys)
  smollm2 fine-tuned  SmolLM2 fine-tuned with the pairwise loss on the stdlib *train* split:
                      --finetuned PATH (a checkpoint from 'codeprm prm train --kind zero-shot',
                      e.g. made on a GPU), or --finetune-steps N to train one here first;
                      recalibrated on the valid split like the zero-shot row
  tiny classifier     2-layer model trained from scratch on the stdlib *train* split for a
                      CPU time budget, calibrated on the valid split
  deterministic       the real language-server reward (basedpyright, one warm session per
                      set): each mined file is copied into a scratch workspace and every
                      step is ranked from the buggy file, as 'codeprm rank' does
  det-like            a cheap stand-in: -1 if the code does not parse, -0.5 if the step
                      introduces an undefined name, else 0 (--skip-lsp uses only this)
  det + smollm2       combine(det, p, w) = det + w * (p - 0.5); likewise det + tiny; shown
                      for --w and for the weight that does best on the valid split

Usage: python benchmarks/prm_quality.py [--tiny-seconds 180] [--bugs 50] [--cal-bugs 30]
           [--finetuned DIR | --finetune-steps N] [--write-sets DIR | --sets DIR] [--json out.json]
--write-sets stores the mined records and their language-server rewards; --sets reads them
back instead of mining, so a GPU machine without the packages or the language server (see
benchmarks/gpu/) evaluates exactly the same steps.
(616 s measured on a shared 2-core machine with the default sizes, most of it SmolLM2 on
CPU; --bugs 20 --cal-bugs 15 --tiny-seconds 60 gives a quick look)
Never uses HumanEval, HumanEvalFix or QuixBugs.

These sets are mined (mutated) bugs. benchmarks/real_bugs.py is the real-bug counterpart:
BugsInPy fixes of whole held-out projects ranked against the unchanged file, mutants of the
fix and broken-name edits, with the full reward (language server, doctests, dV, step-v1 p)
computed in-process by codeprm's own ranking, one component at a time and combined.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from codeprm.prm.calibrate import fit_platt, quality
from codeprm.prm.combine import combine
from codeprm.prm.data import MiningConfig, function_span, mine_corpus, summarize
from codeprm.prm.mutate import parses, undefined_names
from codeprm.prm.records import StepRecord, group_by_bug

# OpenMP threads must sleep, not spin, when the cores are shared (see codeprm.prm.runtime)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SITE = Path(sysconfig.get_paths()["purelib"])
#: weights of the PRM term tried on the valid split
WEIGHT_GRID = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
PACKAGES = ("pygls", "httpx2", "httpcore2", "typer", "gguf")
#: other installed packages, for the valid split only (calibration and the weight)
VALID_PACKAGES = ("click", "jsonschema", "rich", "attr")


def det_like(r: StepRecord) -> float:
    if not parses(r.after):
        return -1.0
    if undefined_names(r.after, r.context) - undefined_names(r.before, r.context):
        return -0.5
    return 0.0


def lsp_rewards(recs: list[StepRecord], roots: list[Path]) -> tuple[list[float], int]:
    """The deterministic reward of every step, from basedpyright; (rewards, bugs not placed).

    Each source file is copied (alone) into one scratch workspace at its corpus-relative
    path; a bug's steps are ranked from the file with the buggy function, as 'codeprm rank'
    ranks candidates. A bug whose function is not found exactly once keeps det-like values.
    """
    from codeprm.analysis.navigate import Analyzer
    from codeprm.analysis.rank import Candidate, rank
    from codeprm.analysis.step import StepEngine

    by_name = {r.name: r for r in roots}
    out = [det_like(r) for r in recs]
    groups = group_by_bug(recs)
    unplaced = 0
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        originals: dict[str, str] = {}
        for r in recs:
            head, _, rest = r.source_path.partition("/")
            if r.source_path not in originals and head in by_name:
                text = (by_name[head] / rest).read_text("utf-8")
                originals[r.source_path] = text
                (ws / r.source_path).parent.mkdir(parents=True, exist_ok=True)
                (ws / r.source_path).write_text(text, "utf-8")
        with Analyzer(root=ws, timeout=120) as an:
            engine = StepEngine(an)
            for idx in groups.values():
                group = [recs[i] for i in idx]
                original = originals.get(group[0].source_path)
                span = None if original is None else function_span(original, group)
                if original is None or span is None:
                    unplaced += 1
                    continue
                start, end = span
                base = original[:start] + group[0].before + original[end:]
                cands = [
                    Candidate(str(i), n, new_text=original[:start] + recs[i].after + original[end:])
                    for n, i in enumerate(idx)
                ]
                for ranked in rank(engine, ws / group[0].source_path, cands, base_text=base):
                    if ranked.reward is not None:
                        out[int(ranked.id)] = ranked.reward
    return out, unplaced


def take_bugs(records: list[StepRecord], n_bugs: int) -> list[StepRecord]:
    out: list[StepRecord] = []
    for i, idx in enumerate(group_by_bug(records).values()):
        if i >= n_bugs:
            break
        out.extend(records[j] for j in idx)
    return out


def row(name: str, scores: list[float], probs: list[float] | None, recs: list[StepRecord]) -> dict:
    q = quality(scores, [r.label for r in recs], [r.bug_id for r in recs], probs)
    return {"scorer": name, **q}


def evaluate_lm(
    label: str,
    key: str,
    scorer: Any,
    valid: list[StepRecord],
    vdet: list[float],
    sets: dict[str, list[StepRecord]],
    results: list[dict],
    probs_by: dict[str, dict[str, list[float]]],
    *,
    diagnostics: bool = False,
) -> dict:
    """Calibrate ``scorer`` on valid, choose its combination weight on valid, score the sets.

    Appends result rows and stores the calibrated probabilities under ``probs_by[set][key]``.
    ``diagnostics`` adds the no-length-correction and dropped-return rows.
    """
    t0 = time.perf_counter()
    names = scorer.meta.calibration.features
    vfeats = scorer.features([r.to_input() for r in valid])
    cal = fit_platt(
        vfeats,
        [r.label for r in valid],
        names,
        fitted_on={"split": "valid", "records": len(valid), "seed": 0},
    )
    scorer.meta = scorer.meta.with_(calibration=cal)
    vprobs = [cal.probability(f) for f in vfeats]

    def valid_quality(w: float) -> tuple[float, float]:
        q = quality(
            [combine(d, p, w)[0] for d, p in zip(vdet, vprobs, strict=True)],
            [r.label for r in valid],
            [r.bug_id for r in valid],
        )
        return q["auroc"], q["top1"]

    # the combination's weight, chosen on the valid split only (AUROC, then top-1)
    tuned_w = max(WEIGHT_GRID, key=lambda w: (valid_quality(w), -abs(w - 1.0)))
    print(
        f"{label}: combination weight tuned on valid: {tuned_w:g} {valid_quality(tuned_w)}",
        file=sys.stderr,
    )
    for name, recs in sets.items():
        feats = scorer.features([r.to_input() for r in recs])
        logits = [cal.logit(f) for f in feats]
        probs_by[name][key] = [cal.probability(f) for f in feats]
        results.append({"set": name, **row(label, logits, probs_by[name][key], recs)})
        if not diagnostics or names != ("delta_ll", "delta_tokens"):
            continue
        results.append({"set": name, **row("smollm2 no-len", [f[0] for f in feats], None, recs)})
        dr = [i for i, r in enumerate(recs) if r.mutation == "dropped-return"]
        if dr:
            sub = [recs[i] for i in dr]
            results.append(
                {
                    "set": name,
                    **row("  smollm2 (dropped-return bugs)", [logits[i] for i in dr], None, sub),
                }
            )
            results.append(
                {
                    "set": name,
                    **row(
                        "  smollm2 no-len (dropped-return)", [feats[i][0] for i in dr], None, sub
                    ),
                }
            )
    seconds = time.perf_counter() - t0
    print(f"{label}: {scorer.sequences_run} sequences in {seconds:.0f}s", file=sys.stderr)
    return {
        "calibration": cal.to_json(),
        "tuned_weight": tuned_w,
        "seconds": seconds,
        "sequences": scorer.sequences_run,
    }


SET_FILES = {"valid": "valid", "A stdlib test": "a", "B recent pkgs": "b", "train": "train"}


def write_sets(
    out: Path,
    sets: dict[str, list[StepRecord]],
    valid: list[StepRecord],
    train_recs: list[StepRecord],
    lsp: dict[str, list[float]] | None,
) -> None:
    """The evaluation sets, training records and language-server rewards, gzipped JSONL."""
    out.mkdir(parents=True, exist_ok=True)
    for name, recs in {**sets, "valid": valid, "train": train_recs}.items():
        with gzip.open(out / f"{SET_FILES[name]}.jsonl.gz", "wt", encoding="utf-8") as f:
            for r in recs:
                f.write(json.dumps(r.to_json(), sort_keys=True) + "\n")
    meta = {"python": sys.version.split()[0], "lsp": lsp}
    (out / "sets.json").write_text(json.dumps(meta), encoding="utf-8")


def read_sets(
    src: Path,
) -> tuple[dict[str, list[StepRecord]], list[StepRecord], list[StepRecord], dict | None]:
    """(sets, valid, train records, language-server rewards or None) from write_sets."""
    loaded: dict[str, list[StepRecord]] = {}
    for name, stem in SET_FILES.items():
        with gzip.open(src / f"{stem}.jsonl.gz", "rt", encoding="utf-8") as f:
            loaded[name] = [StepRecord.from_json(json.loads(line)) for line in f if line.strip()]
    meta = json.loads((src / "sets.json").read_text(encoding="utf-8"))
    sets = {k: v for k, v in loaded.items() if k not in ("valid", "train")}
    return sets, loaded["valid"], loaded["train"], meta.get("lsp")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bugs", type=int, default=50, help="bugs per held-out set")
    ap.add_argument("--cal-bugs", type=int, default=30, help="valid-split bugs to calibrate on")
    ap.add_argument("--max-files", type=int, default=500, help="stdlib files to mine")
    ap.add_argument("--tiny-seconds", type=float, default=180.0)
    ap.add_argument("--w", type=float, default=1.0, help="PRM weight in the combination")
    ap.add_argument("--smollm2", type=Path, default=None, help="checkpoint (default: fetched)")
    ap.add_argument("--skip-smollm2", action="store_true")
    ap.add_argument(
        "--finetuned",
        type=Path,
        default=None,
        help="a checkpoint from 'codeprm prm train' on the stdlib train split (adds the "
        "fine-tuned rows; never one trained on the packages of set B)",
    )
    ap.add_argument(
        "--finetune-steps",
        type=int,
        default=0,
        help="fine-tune SmolLM2 here first on the stdlib train split (0: no fine-tuned rows "
        "unless --finetuned is given)",
    )
    ap.add_argument("--finetune-batch-bugs", type=int, default=8)
    ap.add_argument("--finetune-length", type=int, default=512, help="training crop (tokens)")
    ap.add_argument("--finetune-lr", type=float, default=2e-5)
    ap.add_argument("--finetune-seconds", type=float, default=None, help="cap on fine-tuning")
    ap.add_argument(
        "--skip-lsp", action="store_true", help="det-like stand-in only, no language server"
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument(
        "--write-sets",
        type=Path,
        default=None,
        help="also write the mined sets and their language-server rewards to this directory",
    )
    ap.add_argument("--sets-only", action="store_true", help="stop after --write-sets")
    ap.add_argument(
        "--train-files",
        type=int,
        default=None,
        help="stdlib files mined for training (default: --max-files); the sets are unchanged",
    )
    ap.add_argument(
        "--sets",
        type=Path,
        default=None,
        help="read the sets (and language-server rewards) written by --write-sets instead of "
        "mining: the same records on a machine without the packages or the language server",
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import torch

    from codeprm.prm.fetch import default_dest
    from codeprm.prm.infer import load_scorer
    from codeprm.prm.train import TrainConfig, train

    t0 = time.perf_counter()
    lsp: dict[str, list[float]] | None = None  # language-server rewards by set (and "valid")
    if args.sets is not None:
        sets, valid, train_recs, lsp = read_sets(args.sets)
        lsp = None if args.skip_lsp else lsp
        print(f"sets read from {args.sets}", file=sys.stderr)
    else:
        stdlib = mine_corpus([STDLIB], MiningConfig(seed=0), max_files=args.max_files)
        pkgs = [SITE / p for p in PACKAGES if (SITE / p).is_dir()]
        recent = mine_corpus(pkgs, MiningConfig(seed=0, force_split="test", max_bugs=args.bugs))
        sets = {
            "A stdlib test": take_bugs([r for r in stdlib if r.split == "test"], args.bugs),
            "B recent pkgs": take_bugs(recent, args.bugs),
        }
        valid_pkgs = [SITE / p for p in VALID_PACKAGES if (SITE / p).is_dir()]
        valid = take_bugs([r for r in stdlib if r.split == "valid"], args.cal_bugs) + take_bugs(
            mine_corpus(
                valid_pkgs, MiningConfig(seed=0, force_split="valid", max_bugs=args.cal_bugs)
            ),
            args.cal_bugs,
        )
        # training data of the tiny classifier and the fine-tuned LM (train() calibrates
        # itself on the valid records; the benchmark recalibrates every scorer on `valid`)
        train_recs = [r for r in stdlib if r.split in ("train", "valid")]
        if args.train_files and args.train_files != args.max_files:
            # more (or fewer) training files; the evaluation sets stay those of --max-files,
            # and the split by file keeps every test file out
            train_recs = [
                r
                for r in mine_corpus([STDLIB], MiningConfig(seed=0), max_files=args.train_files)
                if r.split in ("train", "valid")
            ]
        print(
            f"mined in {time.perf_counter() - t0:.0f}s: stdlib {summarize(stdlib)['split']}",
            file=sys.stderr,
        )
        if not args.skip_lsp:
            t_lsp = time.perf_counter()
            roots = {
                "valid": [STDLIB, *valid_pkgs],
                "A stdlib test": [STDLIB],
                "B recent pkgs": pkgs,
            }
            lsp = {}
            for name, recs in {"valid": valid, **sets}.items():
                lsp[name], unplaced = lsp_rewards(recs, roots[name])
                print(
                    f"  {name}: language-server rewards, {unplaced} bugs not placed",
                    file=sys.stderr,
                )
            print(f"language-server rewards in {time.perf_counter() - t_lsp:.0f}s", file=sys.stderr)
    if args.write_sets is not None:
        write_sets(args.write_sets, sets, valid, train_recs, lsp)
        print(f"sets written to {args.write_sets}", file=sys.stderr)
        if args.sets_only:
            return 0
    for name, recs in sets.items():
        print(f"  {name}: {len(recs)} steps, {len({r.bug_id for r in recs})} bugs", file=sys.stderr)

    results: list[dict] = []
    probs_by: dict[str, dict[str, list[float]]] = {k: {} for k in sets}

    # the deterministic reward (and its cheap stand-in), calibrated on valid for their ECE
    cal_like = fit_platt([(det_like(r),) for r in valid], [r.label for r in valid], ("det",))
    if lsp is not None:
        cal_det = fit_platt([(d,) for d in lsp["valid"]], [r.label for r in valid], ("det",))
    for name, recs in sets.items():
        like = [det_like(r) for r in recs]
        results.append(
            {"set": name, **row("det-like", like, [cal_like.probability((d,)) for d in like], recs)}
        )
        probs_by[name]["det"] = like
        if lsp is not None:
            det = lsp[name]
            probs_by[name]["det"] = det
            probs = [cal_det.probability((d,)) for d in det]
            results.append({"set": name, **row("deterministic (basedpyright)", det, probs, recs)})
    det_name = "det-like" if lsp is None else "det"

    # tiny classifier, trained under a CPU time budget
    with tempfile.TemporaryDirectory() as tmp:
        t1 = time.perf_counter()
        res = train(
            train_recs,
            Path(tmp) / "tiny",
            TrainConfig(
                steps=100_000,
                max_seconds=args.tiny_seconds,
                device=args.device,
                log_every=50,
                calibration_max=800,
            ),
        )
        print(
            f"tiny: {res.steps_done} steps, {res.rows_seen} rows in {res.seconds:.0f}s, "
            f"loss {res.losses[:1]} -> {res.losses[-1:]}, total {time.perf_counter() - t1:.0f}s",
            file=sys.stderr,
        )
        tiny = load_scorer(res.path, args.device)
        for name, recs in sets.items():
            steps = [r.to_input() for r in recs]
            logits, probs = tiny.logits(steps), tiny.score(steps)
            probs_by[name]["tiny"] = probs
            results.append({"set": name, **row("tiny classifier", logits, probs, recs)})
        tiny_info = {
            "steps": res.steps_done,
            "seconds": res.seconds,
            "params": tiny.describe()["parameters"],
        }

    # SmolLM2 zero-shot, and fine-tuned when a checkpoint is given or --finetune-steps asks
    vdet = lsp["valid"] if lsp is not None else [det_like(r) for r in valid]
    lm_info: dict[str, dict] = {}
    ckpt = args.smollm2 or default_dest()
    if not args.skip_smollm2 and (ckpt / "config.json").is_file():
        lm_info["smol"] = evaluate_lm(
            "smollm2 zero-shot",
            "smol",
            load_scorer(ckpt, args.device),
            valid,
            vdet,
            sets,
            results,
            probs_by,
            diagnostics=True,
        )
    elif not args.skip_smollm2:
        print(
            f"smollm2 skipped: no checkpoint at {ckpt} (run 'codeprm prm fetch')", file=sys.stderr
        )
    finetuned = args.finetuned
    with tempfile.TemporaryDirectory() as tmp:
        if finetuned is None and args.finetune_steps and (ckpt / "config.json").is_file():
            t3 = time.perf_counter()
            res = train(
                train_recs,
                Path(tmp) / "finetuned",
                TrainConfig(
                    kind="zero-shot",
                    steps=args.finetune_steps,
                    max_seconds=args.finetune_seconds,
                    batch_bugs=args.finetune_batch_bugs,
                    lr=args.finetune_lr,
                    max_length=1024,
                    train_length=args.finetune_length,
                    device=args.device,
                    log_every=max(1, args.finetune_steps // 20),
                    calibration_max=400,
                ),
                base_model=ckpt,
                progress=lambda m: print(f"  fine-tune: {m}", file=sys.stderr),
            )
            finetuned = res.path
            print(
                f"fine-tuned SmolLM2: {res.steps_done} steps, {res.rows_seen} rows in "
                f"{res.seconds:.0f}s on {res.meta.training['device']}, total "
                f"{time.perf_counter() - t3:.0f}s",
                file=sys.stderr,
            )
        if finetuned is not None:
            ft = load_scorer(finetuned, args.device)
            held_out = {r.source_path for recs in sets.values() for r in recs}
            seen = sorted(ft.meta.trained_sources & held_out)
            if seen:
                print(
                    f"{finetuned} was trained on {len(seen)} file(s) of the held-out sets "
                    f"(first: {seen[0]}): that would not be a held-out evaluation",
                    file=sys.stderr,
                )
                return 2
            if "train_sources" not in ft.meta.data_recipe:
                print(f"note: {finetuned} does not record its training files", file=sys.stderr)
            training = dict(ft.meta.training)
            lm_info["ft"] = evaluate_lm(
                "smollm2 fine-tuned", "ft", ft, valid, vdet, sets, results, probs_by
            )
            lm_info["ft"]["training"] = {
                k: training.get(k)
                for k in ("device", "steps_done", "rows_seen", "seconds", "lr", "batch_bugs")
            }
            lm_info["ft"]["weights_sha256"] = ft.meta.weights_sha256

    # combinations with the deterministic reward: at --w and at the weight tuned on valid
    labels = {"smol": "smollm2", "ft": "smollm2 fine-tuned", "tiny": "tiny"}
    for name, recs in sets.items():
        det = probs_by[name]["det"]
        for key, label in labels.items():
            if key not in probs_by[name]:
                continue
            tuned = lm_info.get(key, {}).get("tuned_weight", args.w)
            for w in sorted({args.w, tuned}):
                total = [combine(d, p, w)[0] for d, p in zip(det, probs_by[name][key], strict=True)]
                tag = " valid-tuned" if w == tuned and w != args.w else ""
                results.append(
                    {"set": name, **row(f"{det_name} + {label} (w={w:g}{tag})", total, None, recs)}
                )

    header = f"{'set':15} {'scorer':44} {'n':>5} {'AUROC':>6} {'ECE':>6} {'top1':>6} {'chance':>6}"
    print(header)
    print("-" * len(header))
    for r in results:
        ece = f"{r['ece']:.3f}" if "ece" in r else "   -  "
        print(
            f"{r['set']:15} {r['scorer']:44} {int(r['n']):5d} {r['auroc']:6.3f} {ece:>6} {r['top1']:6.3f} {r['top1_chance']:6.3f}"
        )
    machine = (
        f"{os.cpu_count()} CPU cores, torch {torch.__version__}, cuda={torch.cuda.is_available()}"
    )
    print(f"\nmachine: {machine}; total {time.perf_counter() - t0:.0f}s")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"results": results, "tiny": tiny_info, "lm": lm_info, "machine": machine},
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
