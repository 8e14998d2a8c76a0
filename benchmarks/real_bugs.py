"""The step reward on real bugs: BugsInPy fixes ranked against no-op, wrong and broken edits.

For each selected BugsInPy bug (a fix that changes one function of one non-test file), the
buggy commit is exported into a scratch workspace, the bug's test files (bug.info
``test_file``) are overlaid from the fixed commit as BugsInPy's own checkout does (the failing
tests came with the fix), and these candidates are scored from the buggy state, in-process,
with codeprm's own ranking (``codeprm.analysis.rank.rank`` over a ``StepEngine``, as
``codeprm rank --exec tests --test-cmd CMD`` does):

  noop          the unchanged file
  fix           the developer's fix (``bug_patch.txt`` applied to the buggy file)
  mutant-*      plausible wrong fixes: codeprm's mutation operators (``prm.mutate``) applied
                to the fixed function, sites on the lines the fix changed first; kept only
                when not AST-equivalent to the buggy or the fixed function
  broken-*      the fixed function with one used local name (or ``self`` attribute)
                misspelled into a name nothing defines

Execution facts (``--exec tests``, the default): the bug's failing tests from BugsInPy's
``run_test.sh`` become the test command, each line rewritten to run under the project's
environment (``pytest ID`` / ``tox ID`` / ``python3 -m pytest ID`` -> ``ENV/bin/python -m
pytest ID``; ``python -m unittest -q ID`` -> ``ENV/bin/python -m unittest -q ID``). codeprm
reads such a command as naming its tests (``execfacts.command_tests``): each named test is one
test, run on its own in the capped sandbox under that interpreter, before and after every
candidate. Each bug records whether its tests run here (``exec_valid``: the buggy state fails
a named test and the fixed state passes them all; ``exec_check`` has the statuses). Bugs whose
tests do not run stay in the table with the execution part absent (the execution scorer skips
them; the combinations are computed without it there).

Every candidate's component deltas from the start state are recorded (dE errors removed, dW
warnings removed, dX failing tests removed, dV the learned potential's change; hidden
diagnostics count as present, the guard's cap as ``capped``), and every scorer in the table
is computed from them (``rewards.combiner.score``), so other weights are evaluated offline:

  errors / warnings     one delta alone                  execution   dX alone (exec-valid bugs)
  deterministic         0.5*dE + 0.1*dW                  PRM dV      the learned potential alone
  --prm none            det + 0.5*dX (guarded)           combined    + 1/4*dV: the built-in weights
  fitted combiner       the weights of --combiner FILE   (for exec-valid bugs ``combined``
                                                          equals codeprm's own total: checked)

With ``--step-form`` the old step-v1 form is scored too (a second PRM pass).

Metrics (the real fix is the one good candidate of its bug; ties are never broken in the
fix's favour): top-1 strict (the fix scores strictly above every other candidate), top-1
expected (a random tie-break: 1/(k+1) when k others tie with it at the top), MRR (the
expected reciprocal rank under a random tie-break), AUROC (fix vs the rest; pooled over all
bugs, and the mean per bug; ties count half), ECE (step-v1 p only), and no-op >= fix (the
unchanged file scores at least as high as the fix: a tie counts as the no-op outranking).

Projects are held out whole: nothing from tqdm, httpie, cookiecutter, thefuck or luigi was used
to build, calibrate or tune codeprm's PRM or its combiner (the zero-shot SmolLM2 base model may
have seen them in pre-training). The combiner is fitted on other BugsInPy projects
(youtube-dl, scrapy): ``--fit-combiner``.

Set-up (once; per-project virtualenvs with BugsInPy's Python version where its code needs it,
BugsInPy's pinned requirements when they install, else a loosened list):

  E=/work/scratch-realexec/envs; B=/work/.mirror/soarsmu+BugsInPy/repo
  # Python 3.11 (this interpreter): tqdm (loosened), youtube-dl (standard library only)
  python3.11 -m venv $E/tqdm && $E/tqdm/bin/pip install pytest pynose
  python3.11 -m venv $E/youtube-dl && $E/youtube-dl/bin/pip install pytest
  # BugsInPy's Python (pyenv 3.7 / 3.8): their code imports collections.Mapping & co.
  for p in thefuck:3.7 httpie:3.7 cookiecutter:3.7 luigi:3.8 scrapy:3.8; do
    n=${p%:*}; v=${p#*:}; ~/.pyenv/versions/$v.*/bin/python$v -m venv $E/$n
    git --git-dir=$B show HEAD:projects/$n/bugs/1/requirements.txt > $E/$n.req.raw  # utf-16 for luigi, scrapy
    # drop "-e git+..." and "pkg-resources==0.0.0" lines, decode utf-16, then:
    $E/$n/bin/pip install -r $E/$n.req || $E/$n/bin/pip install pytest mock six ...  # loosened list
  done
  # per-bug envs DIR/<project>-<n> where one bug needs other pins (thefuck-3.., cookiecutter-1/3,
  # luigi-3: Python 3.6 + the buggy commit's own install_requires, psutil...); cookiecutter-1's
  # python is a wrapper that runs python3.6 under LC_ALL=C (its bug needs a non-UTF-8 locale)
  (the loosened lists and the per-bug envs are in the run's report: benchmarks/results/real_bugs.md)

Usage (mirrors or clones of BugsInPy and of each project's git repository; no network):
  python benchmarks/real_bugs.py --bugsinpy /work/.mirror/soarsmu+BugsInPy/repo \\
      --repo tqdm=/work/.mirror/tqdm+tqdm/repo --repo thefuck=/work/.mirror/nvbn+thefuck/repo \\
      --repo httpie=/work/.mirror/httpie+httpie/repo --repo cookiecutter=/work/.mirror/cookiecutter+cookiecutter/repo \\
      --repo luigi=/work/.mirror/spotify+luigi/repo --bugs-per-project 7 --envs $E \\
      --combiner codeprm/prm/combiner_smollm2.json --out real_bugs.jsonl [--prm default|none|PATH]
  # fit the combiner on validation projects (never the held-out ones) for a checkpoint:
  python benchmarks/real_bugs.py --bugsinpy ... --repo youtube-dl=/work/.mirror/ytdl-org+youtube-dl/repo \\
      --repo scrapy=/work/.mirror/scrapy+scrapy/repo --bugs-per-project 10 --envs $E --prm CHECKPOINT \\
      --out valid.jsonl --fit-combiner combiner.json [--write-checkpoint CHECKPOINT]
  # or refit offline from recorded rows: --rows valid.jsonl --fit-combiner combiner.json
--bugsinpy is a BugsInPy checkout (a directory with projects/) or a bare git repository of it;
each --repo NAME=GITDIR a bare or normal git repository of that project. Fixes of functions
over --max-function-lines (default 60) are skipped: the learned potential reads the whole
function for every candidate. Candidates per bug are capped by --mutants and --broken (default
2 + 2, so 6 in all). --out gets one JSON line per candidate and a final {"summary": ...}
line; --rows FILE (repeatable) re-prints the tables from such files without scoring (with
--out, writes the rows again with the summary recomputed, e.g. with --combiner's row).
Never uses HumanEval, HumanEvalFix or QuixBugs.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# OpenMP threads must sleep, not spin, when the cores are shared (see codeprm.prm.runtime)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SCORERS: tuple[tuple[str, str], ...] = (
    ("s_errors", "errors delta alone"),
    ("s_warnings", "warnings delta alone"),
    ("s_det", "deterministic (errors+warnings)"),
    ("s_exec", "execution (bug's tests) alone"),
    ("dV", "PRM dV alone (potential-v1)"),
    ("p", "PRM p alone (step-v1)"),
    ("s_prm_none", "--prm none (det + exec)"),
    ("s_combined", "combined, default weights"),
    ("s_combined_fit", "combined, fitted combiner"),
    ("combined_step", "combined step-v1 (old form)"),
)
#: the built-in defaults (rewards.functional.Weights, --prm-weight 1)
DEFAULT_POINT = {"a": 0.5, "a_w": 0.1, "x": 0.5, "w": 1.0}


def derive(
    rows: Sequence[dict[str, Any]], fitted: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """Rows with every scorer computed from the recorded component deltas (``rewards.combiner``).

    The execution delta counts only for bugs whose tests run here (``exec_valid``): elsewhere
    the execution scorer is absent and the combinations are computed without it. For
    exec-valid bugs the default combination equals what codeprm's reward computed
    (``combined_lib``; checked in ``main``).
    """
    from codeprm.rewards.combiner import Candidate, score

    out = []
    for r in rows:
        if r.get("error") or "dE" not in r:
            out.append(r)
            continue
        valid = bool(r.get("exec_valid"))
        deltas = {
            "dE": r["dE"],
            "dW": r["dW"],
            "dX": r["dX"] if valid else 0.0,
            "dV": r.get("dV") or 0.0,
        }
        cand = Candidate(r["id"], deltas, bool(r.get("capped")), r["id"] == "fix")
        new = {
            **r,
            "s_errors": r["dE"],
            "s_warnings": r["dW"],
            "s_det": score(cand, {**DEFAULT_POINT, "x": 0.0, "w": 0.0}),
            "s_exec": r["dX"] if valid else None,
            "s_prm_none": score(cand, {**DEFAULT_POINT, "w": 0.0}),
        }
        if r.get("dV") is not None:
            new["s_combined"] = score(cand, DEFAULT_POINT)
            if fitted is not None:
                new["s_combined_fit"] = score(cand, fitted)
        elif fitted is not None and fitted.get("w", 0.0) == 0.0:
            new["s_combined_fit"] = score(cand, fitted)
        out.append(new)
    return out


def combiner_tasks(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """The bugs of derived rows as ``rewards.combiner`` tasks (bugs without a scored fix and no-op drop)."""
    from codeprm.rewards.combiner import Candidate

    by_bug: dict[str, list[Any]] = {}
    for r in rows:
        if r.get("error") or "dE" not in r:
            continue
        valid = bool(r.get("exec_valid"))
        deltas = {
            "dE": r["dE"],
            "dW": r["dW"],
            "dX": r["dX"] if valid else 0.0,
            "dV": r.get("dV") or 0.0,
        }
        by_bug.setdefault(r["bug"], []).append(
            Candidate(r["id"], deltas, bool(r.get("capped")), r["id"] == "fix")
        )
    return [
        c
        for _, c in sorted(by_bug.items())
        if any(x.good for x in c) and any(x.id == "noop" for x in c)
    ]


@dataclass(frozen=True)
class Bug:
    project: str
    number: int
    path: str  # the one file the fix changes
    buggy_commit: str
    fixed_commit: str
    patch: str
    #: the test files BugsInPy takes from the fixed commit (bug.info ``test_file``): its checkout
    #: overlays them on the buggy commit, since the failing tests came with the fix
    test_files: tuple[str, ...] = ()


# ---------------------------------------------------------------- reading BugsInPy


def _git(gitdir: Path, *args: str, binary: bool = False) -> Any:
    out = subprocess.run(
        ["git", "--git-dir", str(_gitdir(gitdir)), *args], capture_output=True, check=True
    )
    return out.stdout if binary else out.stdout.decode("utf-8", "surrogateescape")


def _gitdir(path: Path) -> Path:
    return path / ".git" if (path / ".git").exists() else path


def _reader(bugsinpy: Path) -> Callable[[str], str | None]:
    """path inside BugsInPy -> its text (None when absent), from a checkout or a bare repo."""
    if (bugsinpy / "projects").is_dir():

        def read(rel: str) -> str | None:
            p = bugsinpy / rel
            return p.read_text("utf-8", "surrogateescape") if p.is_file() else None

        return read

    def read_git(rel: str) -> str | None:
        try:
            return str(_git(bugsinpy, "show", f"HEAD:{rel}"))
        except subprocess.CalledProcessError:
            return None

    return read_git


def _info(text: str) -> dict[str, str]:
    return dict(re.findall(r'^(\w+)\s*=\s*"?([^"\n]*)"?', text, re.M))


def patch_files(patch: str) -> list[str]:
    """The paths a unified diff changes (b/ side)."""
    return sorted({m for m in re.findall(r"^\+\+\+ b/(\S+)", patch, re.M)})


def is_test_path(path: str) -> bool:
    parts = path.lower().split("/")
    return any(
        p in ("test", "tests", "testing")
        or p.startswith("test_")
        or p.endswith("_test.py")
        or p == "conftest.py"
        for p in parts
    )


def read_bugs(bugsinpy: Path, project: str) -> list[Bug]:
    """Every bug of a project whose fix changes exactly one non-test Python file, by number."""
    read = _reader(bugsinpy)
    if (bugsinpy / "projects").is_dir():
        numbers = [p.name for p in (bugsinpy / "projects" / project / "bugs").iterdir()]
    else:
        numbers = _git(bugsinpy, "ls-tree", "--name-only", f"HEAD:projects/{project}/bugs").split()
    out = []
    for n in sorted(int(x) for x in numbers if x.isdigit()):
        base = f"projects/{project}/bugs/{n}"
        info, patch = read(f"{base}/bug.info"), read(f"{base}/bug_patch.txt")
        if info is None or patch is None:
            continue
        files = patch_files(patch)
        if len(files) != 1 or not files[0].endswith(".py") or is_test_path(files[0]):
            continue
        i = _info(info)
        tests = tuple(t.strip() for t in i.get("test_file", "").split(";") if t.strip())
        out.append(
            Bug(
                project,
                n,
                files[0],
                i.get("buggy_commit_id", ""),
                i.get("fixed_commit_id", ""),
                patch,
                tests,
            )
        )
    return out


def project_url(bugsinpy: Path, project: str) -> str:
    text = _reader(bugsinpy)(f"projects/{project}/project.info") or ""
    return _info(text).get("github_url", "")


# ---------------------------------------------------------------- candidates (pure)


def apply_fix(path: str, buggy: str, patch: str) -> str | None:
    """The fixed file: the developer's patch applied to the buggy text (None: it does not apply)."""
    from codeprm.errors import CodeprmError
    from codeprm.workspace.diffs import parse_unified_diff, resolve_patch

    try:
        change = resolve_patch(parse_unified_diff(patch), {path: buggy})
    except CodeprmError:
        return None
    return change.new_texts().get(path)


def one_function_change(path: str, buggy: str, fixed: str) -> Any:
    """The fix's one changed function (a ``UnitChange``), or None when it changes anything else."""
    from codeprm.analysis.units import changed_units

    changes = changed_units({path: buggy}, {path: fixed}, [path])
    if len(changes) != 1:
        return None
    c = changes[0]
    if c.name == "<code>" or not c.before or not c.after or fixed.count(c.after) != 1:
        return None
    return c


def changed_lines(before: str, after: str) -> set[int]:
    """0-based lines of ``after`` that a line diff from ``before`` inserts or replaces."""
    sm = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    out: set[int] = set()
    for tag, _, _, j1, j2 in sm.get_opcodes():
        if tag in ("replace", "insert"):
            out.update(range(j1, j2))
    return out


def _word_in(word: str, text: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", text) is not None


def break_attribute(fn: str, choice: int, file_text: str) -> str | None:
    """Misspell one ``self.<attr>`` read in ``fn`` into an attribute nothing in the file names."""
    from codeprm.prm.mutate import parse_snippet, parses

    parsed = parse_snippet(fn)
    if parsed is None:
        return None
    tree, shift = parsed
    lines = fn.splitlines(keepends=True)
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln))
    uses = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and isinstance(n.ctx, ast.Load)
        and isinstance(n.value, ast.Name)
        and n.value.id == "self"
        and len(n.attr) >= 3
        and n.lineno > shift
        and n.end_lineno == n.lineno
    ]
    uses.sort(key=lambda n: (n.lineno, n.col_offset))
    if not uses:
        return None
    node = uses[choice % len(uses)]
    i = node.lineno - 1 - shift
    line_bytes = lines[i].encode("utf-8")
    end = starts[i] + len(line_bytes[: node.end_col_offset or 0].decode("utf-8", "replace"))
    start = end - len(node.attr)
    if fn[start:end] != node.attr:
        return None
    for typo in (node.attr + "_", node.attr[:-1], node.attr + "s"):
        if not _word_in(typo, file_text):
            out = fn[:start] + typo + fn[end:]
            return out if parses(out) else None
    return None


def candidate_texts(
    path: str, buggy: str, fixed: str, *, mutants: int = 2, broken: int = 2
) -> list[tuple[str, str, str]]:
    """(id, kind, file text) of every candidate of one bug: noop, fix, mutants, broken names.

    Deterministic. Mutants are of the fixed function, sites on the lines the fix changed
    first, one per mutation kind before a second of any kind; a mutant AST-equivalent to the
    buggy or the fixed function is dropped. Broken edits misspell a used local name (and,
    when the function reads ``self`` attributes, one of those) into a name the file never
    mentions.
    """
    from codeprm.prm.mutate import (
        break_a_name,
        enumerate_mutations,
        equivalent,
        receiver_attributes,
    )

    change = one_function_change(path, buggy, fixed)
    out = [("noop", "noop", buggy), ("fix", "fix", fixed)]
    if change is None:
        return out
    fn_b, fn_a = change.before, change.after
    start = fixed.index(fn_a)

    def splice(new_fn: str) -> str:
        return fixed[:start] + new_fn + fixed[start + len(fn_a) :]

    try:
        receivers = receiver_attributes(ast.parse(fixed))
    except SyntaxError:
        receivers = {}
    touched = changed_lines(fn_b, fn_a)
    found = enumerate_mutations(fn_a, receiver_attrs=receivers)
    ordered = sorted(
        found,
        key=lambda m: (
            0 if touched & set(range(m.lines[0], m.lines[1] + 1)) else 1,
            m.site,
            m.kind,
        ),
    )
    chosen: list[tuple[str, str]] = []
    seen_texts = {fn_a, fn_b}
    for rnd in range(2):
        for m in ordered:
            if len(chosen) >= mutants:
                break
            if rnd == 0 and any(k == m.kind for k, _ in chosen):
                continue
            text = m.apply(fn_a)
            if text in seen_texts or equivalent(text, fn_a) or equivalent(text, fn_b):
                continue
            seen_texts.add(text)
            chosen.append((m.kind, text))
    for n, (kind, text) in enumerate(chosen, 1):
        out.append((f"mutant-{n}", f"mutant:{kind}", splice(text)))
    broke: list[tuple[str, str]] = []
    attr = break_attribute(fn_a, 0, fixed) if broken >= 2 else None
    for choice in (0, 5, 2, 9, 1, 13, 3, 7):
        if len(broke) >= broken - (1 if attr else 0):
            break
        text = break_a_name(fn_a, choice)
        if text is None or text in seen_texts:
            continue
        new_words = set(re.findall(r"\w+", text)) - set(re.findall(r"\w+", fn_a))
        if any(_word_in(w, fixed) for w in new_words):
            continue  # the misspelling names something the file defines or mentions
        seen_texts.add(text)
        broke.append(("name", text))
    if attr is not None and attr not in seen_texts:
        broke.append(("attribute", attr))
    for n, (kind, text) in enumerate(broke, 1):
        out.append((f"broken-{n}", f"broken:{kind}", splice(text)))
    return out


# ---------------------------------------------------------------- metrics (pure)


def fix_rank(fix: float, others: Sequence[float]) -> tuple[int, int]:
    """(how many others score strictly above the fix, how many tie with it)."""
    return sum(1 for s in others if s > fix), sum(1 for s in others if s == fix)


def expected_rr(above: int, ties: int) -> float:
    """The expected reciprocal rank of the fix under a uniformly random tie-break."""
    return sum(1.0 / (above + 1 + k) for k in range(ties + 1)) / (ties + 1)


def bug_metrics(scores: dict[str, float]) -> dict[str, float]:
    """One bug's metrics from candidate id -> score ("fix" and "noop" present)."""
    fix = scores["fix"]
    others = [s for cid, s in scores.items() if cid != "fix"]
    above, ties = fix_rank(fix, others)
    return {
        "top1_strict": float(above == 0 and ties == 0),
        "top1_expected": (1.0 / (ties + 1)) if above == 0 else 0.0,
        "rr": expected_rr(above, ties),
        "auroc": (sum(1.0 for s in others if s < fix) + 0.5 * ties) / len(others)
        if others
        else float("nan"),
        "noop_ge": float(scores["noop"] >= fix),
        "noop_gt": float(scores["noop"] > fix),
    }


def summarize(rows: Sequence[dict[str, Any]], key: str) -> dict[str, float]:
    """Metrics of one score over every bug with a scored fix and no-op (failed candidates drop)."""
    from codeprm.prm.calibrate import auroc, ece

    by_bug: dict[str, dict[str, float]] = {}
    for r in rows:
        v = r.get(key)
        if v is None or r.get("error"):
            continue
        by_bug.setdefault(r["bug"], {})[r["id"]] = float(v)
    per = [bug_metrics(s) for s in by_bug.values() if "fix" in s and "noop" in s and len(s) >= 2]
    pooled = [
        (float(r[key]), r["id"] == "fix")
        for r in rows
        if r.get(key) is not None and not r.get("error") and r["bug"] in by_bug
    ]
    n = len(per)
    out: dict[str, float] = {"bugs": float(n), "candidates": float(len(pooled))}
    for m in ("top1_strict", "top1_expected", "rr", "auroc", "noop_ge", "noop_gt"):
        out[m] = sum(p[m] for p in per) / n if n else float("nan")
    out["auroc_pooled"] = auroc([s for s, _ in pooled], [y for _, y in pooled])
    if key == "p":
        out["ece"] = ece([s for s, _ in pooled], [y for _, y in pooled])
    return out


def table(rows: Sequence[dict[str, Any]]) -> str:
    head = f"{'score':34} {'bugs':>4} {'top1':>5} {'top1~':>5} {'MRR':>5} {'AUROC':>5} {'AUCpb':>5} {'ECE':>5} {'noop>=':>6} {'noop>':>5}"
    lines = [head, "-" * len(head)]
    for key, name in SCORERS:
        s = summarize(rows, key)
        if not s["bugs"]:
            continue
        ece = f"{s['ece']:.3f}" if "ece" in s else "  -  "
        lines.append(
            f"{name:34} {int(s['bugs']):4d} {s['top1_strict']:5.3f} {s['top1_expected']:5.3f} {s['rr']:5.3f} "
            f"{s['auroc_pooled']:5.3f} {s['auroc']:5.3f} {ece:>5} {s['noop_ge']:6.3f} {s['noop_gt']:5.3f}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- scoring


def export(gitdir: Path, commit: str, dest: Path) -> None:
    data = _git(gitdir, "archive", "--format=tar", commit, binary=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")


def overlay_tests(gitdir: Path, bug: Bug, root: Path) -> None:
    """The fixed commit's versions of the bug's test files over the buggy export (as BugsInPy's
    checkout does), and of every other file under a test directory the fix commit added or
    changed (fixture data the new tests read)."""
    try:
        changed = _git(
            gitdir, "diff", "--name-only", "--diff-filter=AM", bug.buggy_commit, bug.fixed_commit
        ).split()
    except subprocess.CalledProcessError:
        changed = []
    for rel in sorted(
        set(bug.test_files) | {c for c in changed if is_test_path(c) and c != bug.path}
    ):
        try:
            data = _git(gitdir, "show", f"{bug.fixed_commit}:{rel}", binary=True)
        except subprocess.CalledProcessError:
            continue
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)


def _rows_of(ranked: Iterable[Any], form: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for r in ranked:
        if r.reward is None:
            out[r.id] = {"error": r.error.one_line() if r.error else "?"}
            continue
        c = r.components
        det_parts = c["deterministicComponents"]
        execution = float(det_parts.get("execution", 0.0))
        rec: dict[str, Any] = {
            "total": r.reward,
            "det_total": float(c["deterministic"]),
            "errors": float(det_parts.get("errors", 0.0)),
            "warnings": float(det_parts.get("warnings", 0.0)),
            "execution": execution,
            "exec_ran": "execution" in det_parts,
            "introduced": len(r.bundle["facts"]["introduced"]) if r.bundle else None,
            "fixed_diags": len(r.bundle["facts"]["fixed"]) if r.bundle else None,
            "guard": c.get("guard", {}).get("detected"),
        }
        if r.bundle is not None:
            rec.update(_deltas(r.bundle))
            rec["capped"] = bool(r.bundle["processReward"].get("guard", {}).get("capped"))
            ex = r.bundle["facts"].get("execution")
            if ex is not None:
                rec["exec_before"] = ex["before"]["outcomes"] if ex.get("before") else None
                rec["exec_after"] = ex["after"]["outcomes"] if ex.get("after") else None
        prm = c.get("prm")
        if prm is not None:
            rec["prm_term"] = prm["term"]
            rec["prm_value"] = prm.get("delta", prm.get("probability"))
        elif form == "potential-v1":
            rec["prm_term"] = 0.0
            rec["prm_value"] = 0.0  # no Python unit changed (the no-op): dV is exactly 0
        out[r.id] = rec
    return out


def bug_test_command(bugsinpy: Path, bug: Bug, python: str | None) -> str | None:
    """The bug's failing tests (BugsInPy ``run_test.sh``) as a ``--test-cmd`` run by ``python``.

    Each line names tests: ``pytest ID``, ``python3 -m pytest ID``, ``python -m unittest -q
    ID`` or ``tox ID`` (cookiecutter's; tox ran pytest). They become ``PYTHON -m pytest ID`` /
    ``PYTHON -m unittest -q ID`` lines, which codeprm reads as one test per named test run
    under PYTHON (``execfacts.command_tests``). None: no run_test.sh or a line of another form.
    """
    text = _reader(bugsinpy)(f"projects/{bug.project}/bugs/{bug.number}/run_test.sh")
    if text is None:
        return None
    py = python or "python"
    lines = []
    for raw in text.splitlines():
        tokens = raw.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        if tokens[0] in ("pytest", "py.test", "tox"):
            lines.append(" ".join([py, "-m", "pytest", *tokens[1:]]))
        elif re.fullmatch(r"python[0-9.]*", tokens[0]) and tokens[1:3] in (
            ["-m", "pytest"],
            ["-m", "unittest"],
        ):
            lines.append(" ".join([py, *tokens[1:]]))
        else:
            return None
    return "\n".join(lines) or None


def bug_python(envs: Path | None, bug: Bug) -> Path | None:
    """The interpreter that runs a bug's tests: ``ENVS/<project>-<n>/bin/python`` (a bug whose
    BugsInPy pins differ, e.g. an older pytest), else ``ENVS/<project>/bin/python``; None: neither."""
    if envs is None:
        return None
    for env in (envs / f"{bug.project}-{bug.number}", envs / bug.project):
        if (env / "bin" / "python").exists():
            return env / "bin" / "python"
    return None


def _deltas(bundle: dict[str, Any]) -> dict[str, float]:
    """The candidate's component deltas from the start state (``rewards.combiner``'s features)."""
    pr = bundle["processReward"]
    b, a = pr["before"], pr["after"]
    return {
        "dE": float(
            b["errors"] + b.get("hiddenErrors", 0) - a["errors"] - a.get("hiddenErrors", 0)
        ),
        "dW": float(
            b["warnings"] + b.get("hiddenWarnings", 0) - a["warnings"] - a.get("hiddenWarnings", 0)
        ),
        "dX": float((b.get("failingTests") or 0) - (a.get("failingTests") or 0)),
    }


def score_bug(
    bug: Bug,
    gitdir: Path,
    scorer: Any,
    weight: float,
    *,
    mutants: int,
    broken: int,
    timeout: float,
    max_lines: int = 0,
    exec_mode: str = "doctest",
    test_cmd: str | None = None,
    exec_timeout: float = 60.0,
    step_form: bool = False,
) -> list[dict[str, Any]]:
    from codeprm.analysis.navigate import open_analyzer
    from codeprm.analysis.rank import Candidate, rank
    from codeprm.analysis.step import StepEngine

    name = f"{bug.project}-{bug.number}"
    with tempfile.TemporaryDirectory(prefix=f"realbug-{name}-") as tmp:
        root = Path(tmp) / "ws"
        root.mkdir()
        export(gitdir, bug.buggy_commit, root)
        overlay_tests(gitdir, bug, root)
        file = root / bug.path
        buggy = file.read_text("utf-8")
        fixed = apply_fix(bug.path, buggy, bug.patch)
        if fixed is None:
            return [{"bug": name, "id": "fix", "error": "patch does not apply to the buggy commit"}]
        change = one_function_change(bug.path, buggy, fixed)
        if change is None:
            return [{"bug": name, "id": "fix", "error": "not a one-function fix", "skipped": True}]
        if max_lines and len(change.after.splitlines()) > max_lines:
            return [
                {
                    "bug": name,
                    "id": "fix",
                    "error": f"fixed function over {max_lines} lines",
                    "skipped": True,
                }
            ]
        cands = candidate_texts(bug.path, buggy, fixed, mutants=mutants, broken=broken)
        kinds = {cid: kind for cid, kind, _ in cands}
        candidates = [Candidate(cid, n, new_text=text) for n, (cid, _, text) in enumerate(cands, 1)]
        t0 = time.perf_counter()
        with open_analyzer(root, None, timeout) as an:
            engine = StepEngine(
                an,
                exec_mode=exec_mode,
                test_cmd=test_cmd if exec_mode == "tests" else None,
                exec_timeout=exec_timeout,
            )
            target = an.file(file)
            pot = _rows_of(
                rank(
                    engine,
                    target,
                    candidates,
                    scorer=scorer,
                    prm_weight=weight,
                    prm_form="potential-v1",
                ),
                "potential-v1",
            )
            t1 = time.perf_counter()
            step = (
                _rows_of(
                    rank(
                        engine,
                        target,
                        candidates,
                        scorer=scorer,
                        prm_weight=weight,
                        prm_form="step-v1",
                    ),
                    "step-v1",
                )
                if scorer is not None and step_form
                else {}
            )
            t2 = time.perf_counter()
    out = []
    for cid, _, _ in cands:
        a, b = pot.get(cid, {}), step.get(cid, {})
        row: dict[str, Any] = {
            "project": bug.project,
            "bug": name,
            "path": bug.path,
            "id": cid,
            "kind": kinds[cid],
            "label": cid == "fix",
        }
        if "error" in a:
            row["error"] = a["error"]
            out.append(row)
            continue
        guarded = bool(a.get("guard"))
        det_exec = a["det_total"]
        row.update(
            {k: a[k] for k in ("dE", "dW", "dX", "capped", "exec_before", "exec_after") if k in a}
        )
        row.update(
            errors=a["errors"],
            warnings=a["warnings"],
            execution=a["execution"],
            exec_ran=a["exec_ran"],
            introduced=a["introduced"],
            fixed_diags=a["fixed_diags"],
            guard=a.get("guard"),
            deterministic=round(a["det_total"] - a["execution"], 12),
            prm_none=min(det_exec, 0.0) if guarded else det_exec,
        )
        if scorer is not None:
            row.update(
                dV=a.get("prm_value"), prm_term_v1=a.get("prm_term"), combined_lib=a["total"]
            )
            if b and "error" not in b:
                p = b.get("prm_value")
                row.update(
                    p=0.5 if p is None else p,
                    prm_term_step=b.get("prm_term", 0.0),
                    combined_step=b["total"],
                )
        out.append(row)
    # do the bug's own tests run here: the buggy state fails them, the fixed state passes them
    start = next(
        (r for r in out if r.get("exec_before")), None
    )  # every candidate starts from the buggy state
    fix = next((r for r in out if r["id"] == "fix" and "error" not in r), None)
    before = (start or {}).get("exec_before") or []
    after = (fix or {}).get("exec_after") or []
    tests_before = [st for fid, st in before if fid.startswith("test:")]
    tests_after = [st for fid, st in after if fid.startswith("test:")]
    valid = (
        bool(tests_before)
        and any(st != "passed" for st in tests_before)
        and bool(tests_after)
        and all(st == "passed" for st in tests_after)
    )
    for r in out:
        r["test_cmd"] = test_cmd if exec_mode == "tests" else None
        r["exec_valid"] = valid
        r["exec_check"] = {"buggy": sorted(set(tests_before)), "fixed": sorted(set(tests_after))}
    if out:
        out[0]["seconds"] = {"potential": round(t1 - t0, 2), "step": round(t2 - t1, 2)}
    return out


def report(
    rows: Sequence[dict[str, Any]], fitted: dict[str, float] | None
) -> tuple[str, dict[str, Any]]:
    """The tables (every bug; the bugs whose tests run here) and their summary."""
    derived = derive(rows, fitted)
    valid = [r for r in derived if r.get("exec_valid")]
    bugs = {r["bug"] for r in derived}
    vbugs = {r["bug"] for r in valid}
    text = [
        f"all bugs ({len(bugs)}; execution facts only where the bug's tests run here)",
        table(derived),
    ]
    if valid:
        text += [
            f"\nexec subset: the {len(vbugs)} bugs whose tests run here (buggy fails, fixed passes)",
            table(valid),
        ]
    summary = {
        "all": {key: summarize(derived, key) for key, _ in SCORERS},
        "exec_subset": {key: summarize(valid, key) for key, _ in SCORERS},
        "exec_valid_bugs": sorted(vbugs),
    }
    comb = summary["all"].get("s_combined_fit" if fitted else "s_combined", {})
    if comb.get("bugs"):
        singles = {
            k: summary["all"][k]["top1_strict"]
            for k in ("s_errors", "s_warnings", "s_exec", "dV")
            if summary["all"][k]["bugs"]
        }
        best = max(singles.values())
        text.append(
            f"\ntargets ({'fitted' if fitted else 'default'} combination, all bugs): top-1 {comb['top1_strict']:.3f} "
            f"(>= 0.80: {'met' if comb['top1_strict'] >= 0.8 else 'NOT met'}); beats every component alone "
            f"(best {best:.3f}): {'yes' if comb['top1_strict'] > best else 'NO'}; no-op >= fix {comb['noop_ge']:.3f} "
            f"(<= 0.05: {'met' if comb['noop_ge'] <= 0.05 else 'NOT met'})"
        )
    return "\n".join(text), summary


def fit_combiner(rows: Sequence[dict[str, Any]], provenance: dict[str, Any]) -> Any:
    """``rewards.combiner.fit`` on these (validation) rows; the Combiner with its metrics."""
    from codeprm.rewards.combiner import combiner_from_fit, evaluate, fit, tasks_digest

    tasks = combiner_tasks(rows)
    point, metrics = fit(tasks)
    provenance = {
        **provenance,
        "tasks": len(tasks),
        "exec_valid_tasks": len({r["bug"] for r in rows if r.get("exec_valid")}),
        "data_sha256": tasks_digest(tasks),
        "defaults_on_validation": evaluate(tasks, DEFAULT_POINT),
        "procedure": "rewards.combiner.fit: grid GRID, max (MRR, pairwise accuracy, -noop>=fix), then closest to the built-in defaults",
    }
    return combiner_from_fit(point, metrics, provenance)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--bugsinpy", type=Path, help="BugsInPy checkout or bare git repository")
    ap.add_argument(
        "--repo",
        action="append",
        default=[],
        metavar="NAME=GITDIR",
        help="a project's git repository (repeat)",
    )
    ap.add_argument("--bugs-per-project", type=int, default=12)
    ap.add_argument(
        "--bugs",
        default="",
        help="only these, e.g. thefuck-1,luigi-4 (default: the first eligible per project)",
    )
    ap.add_argument(
        "--max-function-lines",
        type=int,
        default=60,
        help="skip fixes of longer functions (the PRM reads the whole function: time); 0: no limit",
    )
    ap.add_argument("--mutants", type=int, default=2)
    ap.add_argument("--broken", type=int, default=2)
    ap.add_argument("--prm", default="default", help="default | none | PATH to a PRM checkpoint")
    ap.add_argument("--prm-weight", type=float, default=1.0)
    ap.add_argument(
        "--step-form",
        action="store_true",
        help="also score the old step-v1 form (a second PRM pass: time)",
    )
    ap.add_argument(
        "--exec",
        dest="exec_mode",
        choices=("none", "doctest", "tests"),
        default="tests",
        help="execution facts: tests runs each bug's own failing tests (run_test.sh) with --envs",
    )
    ap.add_argument(
        "--envs",
        type=Path,
        default=None,
        help="DIR/<project>-<n>/bin/python or else DIR/<project>/bin/python runs a bug's tests (see the set-up above)",
    )
    ap.add_argument("--exec-timeout", type=float, default=60.0, help="seconds per test run")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--timeout", type=float, default=120.0, help="per language-server request")
    ap.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="stop starting new bugs after this many seconds",
    )
    ap.add_argument(
        "--out", type=Path, default=None, help="per-candidate JSONL (and a final summary line)"
    )
    ap.add_argument(
        "--rows",
        type=Path,
        action="append",
        default=None,
        help="re-print the table of an --out file (repeat to pool); score nothing",
    )
    ap.add_argument(
        "--combiner",
        type=Path,
        default=None,
        help="a fitted combiner JSON: adds the 'fitted combiner' row",
    )
    ap.add_argument(
        "--fit-combiner",
        type=Path,
        default=None,
        metavar="JSON",
        help="fit the combiner on these rows (validation projects only!) and write it here",
    )
    ap.add_argument(
        "--write-checkpoint",
        type=Path,
        default=None,
        metavar="DIR",
        help="with --fit-combiner: also record it in this PRM checkpoint's codeprm_prm.json",
    )
    args = ap.parse_args()

    fitted: dict[str, float] | None = None
    if args.combiner is not None:
        from codeprm.rewards.combiner import Combiner

        c = Combiner.from_json(json.loads(args.combiner.read_text()))
        fitted = {"a": c.weights.a, "a_w": c.weights.a_w, "x": c.weights.x, "w": c.prm_weight}

    def finish(rows: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
        text, summary = report(rows, fitted)
        print(text)
        if args.fit_combiner is not None:
            combiner = fit_combiner(
                rows,
                {
                    "projects": sorted({r["project"] for r in rows if "project" in r}),
                    "bugs": sorted({r["bug"] for r in rows}),
                    "prm": meta.get("prm"),
                    "rows": [str(x) for x in (args.rows or [args.out])],
                },
            )
            args.fit_combiner.write_text(
                json.dumps(combiner.to_json(), indent=2, sort_keys=True) + "\n"
            )
            print(
                f"\nfitted combiner -> {args.fit_combiner}: {json.dumps(combiner.to_json()['weights'])} w={combiner.prm_weight} "
                f"validation {json.dumps(dict(combiner.validation))}; defaults there {json.dumps(combiner.provenance['defaults_on_validation'])}"
            )
            if args.write_checkpoint is not None:
                from codeprm.prm.checkpoint import read_meta, write_meta

                ck = read_meta(args.write_checkpoint)
                if ck is None:
                    raise SystemExit(
                        f"{args.write_checkpoint} has no codeprm_prm.json to record the combiner in"
                    )
                write_meta(args.write_checkpoint, ck.with_(combiner=combiner.to_json()))
                print(f"recorded in {args.write_checkpoint}/codeprm_prm.json")
        return summary

    if args.rows is not None:
        rows = [json.loads(x) for f in args.rows for x in f.read_text().splitlines() if x.strip()]
        metas = [r["meta"] for r in rows if "summary" in r]
        rows = [r for r in rows if "summary" not in r]
        meta = {
            **(metas[0] if metas else {}),
            "combiner": str(args.combiner) if args.combiner else None,
            "fitted_weights": fitted,
        }
        summary = finish(rows, meta)
        if (
            args.out is not None
        ):  # the same rows with the summary recomputed (e.g. a fitted combiner's row added)
            with args.out.open("w") as sink:
                for r in rows:
                    sink.write(json.dumps(r, sort_keys=True) + "\n")
                sink.write(
                    json.dumps({"summary": summary, "meta": meta}, sort_keys=True, default=str)
                    + "\n"
                )
        return 0
    if args.bugsinpy is None or not args.repo:
        ap.error("--bugsinpy and at least one --repo are needed (or --rows)")
    repos = dict(x.split("=", 1) for x in args.repo)
    wanted = {b for b in args.bugs.split(",") if b}
    from codeprm.analysis.learned import load_prm

    scorer, why = load_prm(args.prm, args.device)
    if scorer is None and args.prm != "none":
        print(f"learned PRM not loaded: {why}", file=sys.stderr)
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    sink = args.out.open("w") if args.out else None
    selected: dict[str, list[int]] = {}
    try:
        for project, gitdir in repos.items():
            taken = 0
            for bug in read_bugs(args.bugsinpy, project):
                name = f"{project}-{bug.number}"
                if (wanted and name not in wanted) or (
                    not wanted and taken >= args.bugs_per_project
                ):
                    continue
                if (
                    args.time_budget is not None
                    and time.perf_counter() - started > args.time_budget
                ):
                    print(f"time budget spent: stopping before {name}", file=sys.stderr)
                    break
                python = bug_python(args.envs, bug)
                if args.exec_mode == "tests" and python is None:
                    print(
                        f"{name}: no environment in {args.envs}: scored without execution facts",
                        file=sys.stderr,
                    )
                test_cmd = (
                    bug_test_command(args.bugsinpy, bug, str(python))
                    if python is not None
                    else None
                )
                mode = args.exec_mode if (args.exec_mode != "tests" or test_cmd) else "none"
                t = time.perf_counter()
                try:
                    got = score_bug(
                        bug,
                        Path(gitdir),
                        scorer,
                        args.prm_weight,
                        mutants=args.mutants,
                        broken=args.broken,
                        timeout=args.timeout,
                        max_lines=args.max_function_lines,
                        exec_mode=mode,
                        test_cmd=test_cmd,
                        exec_timeout=args.exec_timeout,
                        step_form=args.step_form,
                    )
                except (subprocess.CalledProcessError, OSError, UnicodeDecodeError) as err:
                    got = [
                        {
                            "bug": name,
                            "id": "fix",
                            "error": f"{type(err).__name__}: {err}",
                            "skipped": True,
                        }
                    ]
                if got and got[0].get("skipped"):
                    print(f"{name}: skipped ({got[0]['error']})", file=sys.stderr)
                    continue
                taken += 1
                selected.setdefault(project, []).append(bug.number)
                rows += got
                if sink:
                    for r in got:
                        sink.write(json.dumps(r, sort_keys=True) + "\n")
                    sink.flush()
                fix = next((r for r in got if r["id"] == "fix"), {})
                print(
                    f"{name}: {len(got)} candidates, {time.perf_counter() - t:.1f}s; exec {mode} valid={fix.get('exec_valid')} "
                    f"{fix.get('exec_check')}; fix det={fix.get('deterministic')} dX={fix.get('dX')} dV={fix.get('dV')}",
                    file=sys.stderr,
                )
        elapsed = time.perf_counter() - started
        # the offline default combination must be what codeprm's reward computed, where exec counts
        mismatch = [
            f"{r['bug']}/{r['id']}"
            for r in derive(rows)
            if r.get("exec_valid")
            and r.get("combined_lib") is not None
            and abs(r["s_combined"] - r["combined_lib"]) > 1e-9
        ]
        meta = {
            "selected": selected,
            "seconds": round(elapsed, 1),
            "prm": None if scorer is None else getattr(scorer, "checkpoint_hash", None),
            "prm_weight": args.prm_weight,
            "exec": args.exec_mode,
            "exec_valid_bugs": sorted({r["bug"] for r in rows if r.get("exec_valid")}),
            "offline_vs_library_mismatches": mismatch,
        }
        summary = finish(rows, meta)
        if sink:
            sink.write(
                json.dumps({"summary": summary, "meta": meta}, sort_keys=True, default=str) + "\n"
            )
    finally:
        if sink:
            sink.close()
    bugs = len({r["bug"] for r in rows})
    print(
        f"\n{bugs} bugs ({', '.join(f'{p}: {len(v)}' for p, v in selected.items())}), {len(rows)} candidates, "
        f"{elapsed:.0f} s; the bug's tests run here for {len(meta['exec_valid_bugs'])} bugs; offline/library mismatches: {len(mismatch)}"
    )
    print(
        "top1: fix strictly first; top1~: random tie-break; AUROC: pooled; AUCpb: mean per bug; "
        "noop>=: the unchanged file scores at least the fix (a tie counts against the fix)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
