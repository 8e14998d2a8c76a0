"""The learned potential alone on held-out real bugs: PRM dV of each candidate, several PRMs side by side.

The bugs, candidates and metrics are benchmarks/real_bugs.py's (noop, the developer's fix,
mutants of the fix, broken names; top-1 strict, MRR, AUROC pooled and per bug), but only
the PRM term is computed: dV = V(after) - V(before) over the units a candidate changes
(``analysis.potential``), with no language server, so PRMs compare in minutes. Also
reported: how often the real fix gets dV > 0 (a potential that rewards fixing).

The bug selection is read from a real_bugs.py --out file (its summary line's ``selected``),
so the bugs are exactly those of that run; or given with --bugs.

Usage:
  python benchmarks/real_fix_eval.py --bugsinpy /work/.mirror/soarsmu+BugsInPy/repo \\
      --repo tqdm=/work/.mirror/tqdm+tqdm/repo ... --selection benchmarks/results/real_bugs.jsonl \\
      --prm zero-shot=~/.cache/codeprm/smollm2-135m-instruct --prm realfix=codeprm/prm/assets/... \\
      --out real_fix_eval.jsonl
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _real_bugs() -> Any:
    if "real_bugs_bench" in sys.modules:
        return sys.modules["real_bugs_bench"]
    spec = importlib.util.spec_from_file_location(
        "real_bugs_bench", ROOT / "benchmarks" / "real_bugs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["real_bugs_bench"] = module
    spec.loader.exec_module(module)
    return module


def bug_candidates(
    bug: Any, gitdir: Path, *, mutants: int, broken: int, max_lines: int
) -> tuple[str, list[tuple[str, str, str]]] | None:
    """(buggy file text, real_bugs.candidate_texts) of one bug, or None when real_bugs.py skips it."""
    rb = _real_bugs()
    try:
        buggy = rb._git(gitdir, "show", f"{bug.buggy_commit}:{bug.path}")
    except Exception:
        return None
    fixed = rb.apply_fix(bug.path, buggy, bug.patch)
    if fixed is None:
        return None
    change = rb.one_function_change(bug.path, buggy, fixed)
    if change is None or (max_lines and len(change.after.splitlines()) > max_lines):
        return None
    return buggy, rb.candidate_texts(bug.path, buggy, fixed, mutants=mutants, broken=broken)


def dv_rows(
    name: str,
    project: str,
    path: str,
    buggy: str,
    cands: Sequence[tuple[str, str, str]],
    scorer: Any,
    key: str,
) -> list[dict[str, Any]]:
    """One row per candidate with ``key`` = its dV under ``scorer`` (0 for the no-op)."""
    from codeprm.analysis.potential import unit_changes, unit_deltas
    from codeprm.prm.records import StepInput

    per = [unit_changes({path: buggy}, {path: text}, [path]) for _, _, text in cands]
    # one call for every candidate: the scorer runs the code before once and each
    # candidate only from where it differs (the same numbers as one call per candidate)
    units = [c for changes in per for c in changes]
    feats: list[Any] = []
    if scorer.meta.kind == "zero-shot":  # what unit_deltas computes, features kept
        weights = scorer.meta.calibration.weights
        feats = scorer.features(
            [
                StepInput(before=c.before, after=c.after, context=c.context, path=c.path)
                for c in units
            ]
        )
        flat = [sum(w * f for w, f in zip(weights, fs, strict=True)) for fs in feats]
    else:
        flat = unit_deltas(scorer, units)
    out = []
    i = 0
    for (cid, kind, _), changes in zip(cands, per, strict=True):
        n = len(changes)
        row = {
            "project": project,
            "bug": name,
            "path": path,
            "id": cid,
            "kind": kind,
            "label": cid == "fix",
            key: float(sum(flat[i : i + n])) if n else 0.0,
        }
        if feats:  # summed features: other calibrations of the same model re-weight offline
            row["features:" + key.split(":", 1)[-1]] = (
                [float(sum(f[j] for f in feats[i : i + n])) for j in range(len(feats[0]))]
                if n
                else [0.0, 0.0]
            )
        i += n
        out.append(row)
    return out


def report(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> str:
    rb = _real_bugs()
    head = f"{'PRM':24} {'bugs':>4} {'top1':>5} {'top1~':>5} {'MRR':>5} {'AUROC':>5} {'AUCpb':>5} {'noop>=':>6} {'fix dV>0':>8}"
    lines = [head, "-" * len(head)]
    for k in keys:
        s = rb.summarize(rows, k)
        fixes = [r[k] for r in rows if r["id"] == "fix" and r.get(k) is not None]
        pos = sum(1 for v in fixes if v > 0) / len(fixes) if fixes else float("nan")
        lines.append(
            f"{k:24} {int(s['bugs']):4d} {s['top1_strict']:5.3f} {s['top1_expected']:5.3f} {s['rr']:5.3f} "
            f"{s['auroc_pooled']:5.3f} {s['auroc']:5.3f} {s['noop_ge']:6.3f} {pos:8.3f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--bugsinpy", type=Path, required=True)
    ap.add_argument("--repo", action="append", default=[], metavar="NAME=GITDIR")
    ap.add_argument(
        "--selection", type=Path, help="a real_bugs.py --out file: score exactly its bugs"
    )
    ap.add_argument("--bugs", default="", help="or these, e.g. thefuck-1,luigi-4")
    ap.add_argument(
        "--prm",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="a PRM checkpoint (repeat; 'default' for the default)",
    )
    ap.add_argument("--mutants", type=int, default=2)
    ap.add_argument("--broken", type=int, default=2)
    ap.add_argument("--max-function-lines", type=int, default=60)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--rows",
        type=Path,
        default=None,
        help="re-print the table of --out files (comma-separated), score nothing",
    )
    ap.add_argument(
        "--only-common", action="store_true", help="with --rows: only bugs every PRM scored"
    )
    ap.add_argument(
        "--reweight",
        action="append",
        default=[],
        metavar="NAME=LABEL:W_LL,W_TOK",
        help="with --rows: dV:NAME from LABEL's recorded features under other calibration weights",
    )
    ap.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="LABEL=FILE",
        help="with --rows: also read the dV of a real_bugs.py --out file as dV:LABEL (the same "
        "candidates: real_bugs.candidate_texts is deterministic)",
    )
    args = ap.parse_args(argv)
    rb = _real_bugs()

    if args.rows is not None:
        rows: list[dict[str, Any]] = []
        for p in str(args.rows).split(","):
            rows += [
                json.loads(x)
                for x in Path(p).read_text().splitlines()
                if x.strip() and "summary" not in x
            ]
        for spec in args.baseline:
            label, _, path = spec.partition("=")
            for x in Path(path).read_text().splitlines():
                try:
                    r = json.loads(x) if x.strip() else {}
                except json.JSONDecodeError:
                    print(f"{path}: skipping a line that is not JSON", file=sys.stderr)
                    continue
                if r.get("dV") is not None and not r.get("error"):
                    rows.append(
                        {
                            "bug": r["bug"],
                            "id": r["id"],
                            "project": r["project"],
                            "label": r["label"],
                            f"dV:{label}": r["dV"],
                        }
                    )
        for spec in args.reweight:
            # NAME=LABEL:W_LL,W_TOK: dV of LABEL's model under another calibration's weights
            name, _, rest = spec.partition("=")
            label, _, ws = rest.partition(":")
            w = [float(x) for x in ws.split(",")]
            for r in rows:
                f = r.get(f"features:{label}")
                if f is not None:
                    r[f"dV:{name}"] = sum(a * b for a, b in zip(w, f, strict=True))
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for r in rows:
            merged.setdefault((r["bug"], r["id"]), {}).update(r)
        keys = sorted({k for r in rows for k in r if k.startswith("dV:")})
        if args.only_common:  # bugs every PRM scored, so the columns compare like for like
            full = [
                b
                for b in {r["bug"] for r in rows}
                if all(k in merged.get((b, c), {}) for k in keys for c in ("fix", "noop"))
            ]
            merged = {key: r for key, r in merged.items() if key[0] in full}
        print(report(list(merged.values()), keys))
        return 0
    wanted: set[str] = {b for b in args.bugs.split(",") if b}
    if args.selection is not None:
        for line in args.selection.read_text().splitlines():
            if '"summary"' in line:
                sel = json.loads(line)["meta"]["selected"]
                wanted |= {f"{p}-{n}" for p, ns in sel.items() for n in ns}
    if not wanted:
        ap.error("give --selection or --bugs")
    if args.selection is not None:
        args.max_function_lines = 0  # the selection is what that run scored, whatever its limit
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from codeprm.prm import load_scorer

    scorers = []
    for spec in args.prm:
        label, _, path = spec.partition("=")
        scorers.append(
            (f"dV:{label}", load_scorer(None if path in ("", "default") else path, "cpu"))
        )
    repos = dict(x.split("=", 1) for x in args.repo)
    rows = []
    sink = args.out.open("w") if args.out else None
    t0 = time.perf_counter()
    try:
        for project, gitdir in repos.items():
            for bug in rb.read_bugs(args.bugsinpy, project):
                name = f"{project}-{bug.number}"
                if name not in wanted:
                    continue
                got = bug_candidates(
                    bug,
                    Path(gitdir),
                    mutants=args.mutants,
                    broken=args.broken,
                    max_lines=args.max_function_lines,
                )
                if got is None:
                    print(f"{name}: skipped", file=sys.stderr)
                    continue
                buggy, cands = got
                per: dict[str, dict[str, Any]] = {}
                for key, scorer in scorers:
                    for r in dv_rows(name, project, bug.path, buggy, cands, scorer, key):
                        per.setdefault(r["id"], {}).update(r)
                for r in per.values():
                    rows.append(r)
                    if sink:
                        sink.write(json.dumps(r, sort_keys=True) + "\n")
                if sink:
                    sink.flush()
                fix = per.get("fix", {})
                print(
                    f"{name}: {len(per)} candidates, fix "
                    + " ".join(f"{k}={fix.get(k, float('nan')):.3f}" for k, _ in scorers)
                    + f" ({time.perf_counter() - t0:.0f}s)",
                    file=sys.stderr,
                )
        keys = [k for k, _ in scorers]
        summary = {k: rb.summarize(rows, k) for k in keys}
        prms = {
            k: {"checkpoint_hash": s.checkpoint_hash, "path": str(getattr(s, "path", ""))}
            for k, s in scorers
        }
        if sink:
            sink.write(
                json.dumps(
                    {
                        "summary": summary,
                        "meta": {
                            "prms": prms,
                            "bugs": sorted(wanted),
                            "seconds": round(time.perf_counter() - t0, 1),
                        },
                    },
                    sort_keys=True,
                )
                + "\n"
            )
    finally:
        if sink:
            sink.close()
    print(report(rows, [k for k, _ in scorers]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
