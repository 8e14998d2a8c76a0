"""Step records from real fixes: BugsInPy training projects and fix commits mined from git histories.

Each real fix of a function becomes one group of step records (one ``bug_id``), all from the
buggy function as it was before the fix, in the context the learned potential reads (the
unit's ``# file:`` line and enclosing class header, ``analysis.units``):

  fix          buggy -> fixed function                                  label True
  noop         buggy -> buggy (the state left alone)                    label False
  mutant       buggy -> a mutant of the fixed function (a plausible     label False
               wrong fix: ``prm.mutate`` operators, sites on the lines
               the fix changed first, none AST-equal to buggy or fixed)
  broken-name  buggy -> the fixed function with a local name misspelled label False

so ``prm train``'s pairwise (Bradley-Terry) loss ranks the fix above the bug and above
wrong fixes of the same state, which is what the potential's dV must do on real fixes.

Sources:
  --bugsinpy DIR --bugsinpy-repo NAME=GITDIR   BugsInPy bugs of NAME (buggy commit's file +
                                               ``bug_patch.txt``); any number of files, each
                                               changed function is a group
  --history NAME=GITDIR                        commits of HEAD whose subject says fix / bug /
                                               typo / wrong / incorrect..., no merges, that
                                               change at most --max-files non-test Python files
                                               and --max-changed-lines lines in them, and at
                                               most --max-functions functions

Splits are by source repository (``--valid NAME,...``): no repository is in two splits. The
projects held out for evaluation (``HELD_OUT_PROJECTS``: the BugsInPy projects of
benchmarks/real_bugs.py) and HumanEval / HumanEvalFix / QuixBugs are refused. Records carry
``source_path = "<kind>:<name>/<path>"``, so a checkpoint's ``trainedOn`` names them.
Deterministic: the same repositories and options give the same file, byte for byte.

Usage:
  python benchmarks/real_fix_data.py --bugsinpy /work/.mirror/soarsmu+BugsInPy/repo \\
      --bugsinpy-repo scrapy=/work/.mirror/scrapy+scrapy/repo \\
      --history click=/work/.mirror/pallets+click/repo --valid click --out real_fixes.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: never trained, calibrated or tuned on: the real-bug evaluation's projects
HELD_OUT_PROJECTS = frozenset({"tqdm", "httpie", "cookiecutter", "thefuck", "luigi"})

FIX_WORDS = re.compile(
    r"\b(fix(es|ed|ing)?|bug(s|fix)?|typo|wrong|incorrect(ly)?|broken|mistake|regression|crash(es)?)\b",
    re.I,
)


def _real_bugs() -> Any:
    """benchmarks/real_bugs.py as a module (its BugsInPy readers and patch helpers)."""
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


@dataclass(frozen=True)
class Options:
    mutants: int = 3
    broken: int = 1
    max_files: int = 2
    max_changed_lines: int = 30
    max_functions: int = 2
    max_function_lines: int = 50
    max_function_chars: int = 2500
    max_groups_per_source: int = 150
    #: groups per valid source (calibration scores every one of them: time)
    max_valid_groups: int = 60
    #: > 0: cut train records this many lines past their last change (``windowed``);
    #: valid records stay whole functions, as the potential scores them
    train_window: int = 0
    max_commits_scanned: int = 4000

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Fix:
    """One real fix of one function: the unit before and after, in its scoring context."""

    source: str  # "bugsinpy:scrapy" or "history:click"
    ident: str  # bug number or commit
    path: str
    name: str
    before: str
    after: str
    context: str


def _git(gitdir: Path, *args: str) -> str:
    out = subprocess.run(["git", "--git-dir", str(gitdir), *args], capture_output=True, check=True)
    return out.stdout.decode("utf-8", "surrogateescape")


def _show(gitdir: Path, commit: str, path: str) -> str | None:
    try:
        return _git(gitdir, "show", f"{commit}:{path}")
    except subprocess.CalledProcessError:
        return None


def _gitdir(path: Path) -> Path:
    return path / ".git" if (path / ".git").exists() else path


def refuse_held_out(name: str) -> None:
    from codeprm.prm.data import is_held_out

    if name.lower() in HELD_OUT_PROJECTS or is_held_out(name):
        raise SystemExit(
            f"real_fix_data: {name} is held out for evaluation; refusing to build training data from it"
        )


def function_fixes(
    source: str, ident: str, before: dict[str, str], after: dict[str, str], opts: Options
) -> list[Fix]:
    """The changed functions of one fix (each changed on both sides, within the size limits);
    [] when the fix changes more than ``opts.max_functions`` functions."""
    from codeprm.analysis.units import changed_units
    from codeprm.prm.mutate import equivalent, parses

    changes = [
        c
        for c in changed_units(before, after, sorted(set(before) | set(after)))
        if c.name != "<code>"
    ]
    if len(changes) > opts.max_functions:
        return []
    out = []
    for c in changes:
        if not c.before or not c.after:
            continue
        if max(len(c.before.splitlines()), len(c.after.splitlines())) > opts.max_function_lines:
            continue
        if max(len(c.before), len(c.after)) > opts.max_function_chars:
            continue
        if not parses(c.before) or not parses(c.after) or equivalent(c.before, c.after):
            continue  # comments, docstrings or layout only
        out.append(Fix(source, ident, c.path, c.name, c.before, c.after, c.context))
    return out


def bugsinpy_fixes(bugsinpy: Path, project: str, gitdir: Path, opts: Options) -> Iterator[Fix]:
    """The function fixes of a BugsInPy project's bugs: the buggy commit's files + the bug's patch."""
    refuse_held_out(project)
    rb = _real_bugs()
    read = rb._reader(bugsinpy)
    if (bugsinpy / "projects").is_dir():
        numbers = [p.name for p in (bugsinpy / "projects" / project / "bugs").iterdir()]
    else:
        numbers = _git(
            _gitdir(bugsinpy), "ls-tree", "--name-only", f"HEAD:projects/{project}/bugs"
        ).split()
    gitdir = _gitdir(gitdir)
    for n in sorted(int(x) for x in numbers if x.isdigit()):
        base = f"projects/{project}/bugs/{n}"
        info, patch = read(f"{base}/bug.info"), read(f"{base}/bug_patch.txt")
        if info is None or patch is None:
            continue
        buggy_commit = rb._info(info).get("buggy_commit_id", "")
        files = [f for f in rb.patch_files(patch) if f.endswith(".py") and not rb.is_test_path(f)]
        if not files or len(files) > opts.max_files:
            continue
        before: dict[str, str] = {}
        for f in files:
            text = _show(gitdir, buggy_commit, f)
            if text is not None:
                before[f] = text
        if len(before) != len(files):
            continue
        from codeprm.errors import CodeprmError
        from codeprm.workspace.diffs import parse_unified_diff, resolve_patch

        try:
            change = resolve_patch(parse_unified_diff(patch), before)
        except CodeprmError:
            continue
        after = {**before, **{p: t for p, t in change.new_texts().items() if p in before}}
        yield from function_fixes(f"bugsinpy:{project}", str(n), before, after, opts)


def _numstat(gitdir: Path, commit: str) -> list[tuple[int, int, str]] | None:
    try:
        text = _git(
            gitdir,
            "diff-tree",
            "--no-commit-id",
            "--numstat",
            "-r",
            "--no-renames",
            f"{commit}^",
            commit,
        )
    except subprocess.CalledProcessError:
        return None  # a parent outside a shallow mirror
    out = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        if parts[0] == "-":
            return None  # binary
        out.append((int(parts[0]), int(parts[1]), parts[2]))
    return out


def history_fixes(name: str, gitdir: Path, opts: Options) -> Iterator[Fix]:
    """Function fixes from the commits of HEAD (newest first) whose subject says it fixes something."""
    refuse_held_out(name)
    rb = _real_bugs()
    gitdir = _gitdir(gitdir)
    log = _git(
        gitdir,
        "log",
        "--no-merges",
        f"--max-count={opts.max_commits_scanned}",
        "--format=%H%x00%P%x00%s",
        "HEAD",
    )
    for line in log.splitlines():
        commit, parents, subject = [*line.split("\x00"), "", ""][:3]
        if len(parents.split()) != 1 or not FIX_WORDS.search(subject):
            continue
        stat = _numstat(gitdir, commit)
        if not stat:
            continue
        code = [(a, d, p) for a, d, p in stat if p.endswith(".py") and not rb.is_test_path(p)]
        if (
            not code
            or len(code) > opts.max_files
            or sum(a + d for a, d, _ in code) > opts.max_changed_lines
        ):
            continue
        before: dict[str, str] = {}
        after: dict[str, str] = {}
        for _, _, p in code:
            b, a = _show(gitdir, f"{commit}^", p), _show(gitdir, commit, p)
            if b is None or a is None:
                break  # an added or deleted file: not a fix of a function
            before[p], after[p] = b, a
        else:
            yield from function_fixes(f"history:{name}", commit[:12], before, after, opts)


def _changed_lines(before: str, after: str) -> set[int]:
    import difflib

    sm = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    out: set[int] = set()
    for tag, _, _, j1, j2 in sm.get_opcodes():
        if tag in ("replace", "insert"):
            out.update(range(j1, j2))
    return out


def wrong_fixes(fix: Fix, opts: Options) -> list[tuple[str, str, str]]:
    """(candidate, mutation kind, text) of the plausible wrong fixes of one fix, deterministic."""
    from codeprm.prm.mutate import break_a_name, enumerate_mutations, equivalent

    fn_b, fn_a = fix.before, fix.after
    touched = _changed_lines(fn_b, fn_a)
    found = enumerate_mutations(fn_a)
    ordered = sorted(
        found,
        key=lambda m: (
            0 if touched & set(range(m.lines[0], m.lines[1] + 1)) else 1,
            m.site,
            m.kind,
        ),
    )
    out: list[tuple[str, str, str]] = []
    seen = {fn_a, fn_b}
    kinds: set[str] = set()
    for rnd in range(2):
        for m in ordered:
            if sum(1 for c, _, _ in out if c == "mutant") >= opts.mutants:
                break
            if rnd == 0 and m.kind in kinds:
                continue
            text = m.apply(fn_a)
            if text in seen or equivalent(text, fn_a) or equivalent(text, fn_b):
                continue
            seen.add(text)
            kinds.add(m.kind)
            out.append(("mutant", m.kind, text))
    broken = 0
    for choice in (0, 5, 2, 9, 1):
        if broken >= opts.broken:
            break
        text = break_a_name(fn_a, choice)
        if text is None or text in seen:
            continue
        seen.add(text)
        broken += 1
        out.append(("broken-name", "name", text))
    return out


def records_of(fix: Fix, split: str, opts: Options) -> list[Any]:
    """The step records of one fix's group: fix (good), noop, mutants and broken names (bad)."""
    from codeprm.prm.records import StepRecord
    from codeprm.prm.text import unified_diff

    bug_id = f"{fix.source}:{fix.ident}:{fix.path}:{fix.name}"
    source_path = f"{fix.source}/{fix.path}"
    common: dict[str, Any] = {
        "before": fix.before,
        "context": fix.context,
        "bug_id": bug_id,
        "source_path": source_path,
        "split": split,
        "mutation": "real-fix",
    }
    rows = [
        StepRecord(
            after=fix.after,
            diff=unified_diff(fix.before, fix.after, fix.path),
            label=True,
            candidate="fix",
            **common,
        ),
        StepRecord(after=fix.before, diff="", label=False, candidate="noop", **common),
    ]
    for candidate, kind, text in wrong_fixes(fix, opts):
        rows.append(
            StepRecord(
                after=text,
                diff=unified_diff(fix.before, text, fix.path),
                label=False,
                candidate=f"{candidate}:{kind}",
                **common,
            )
        )
    return rows


def windowed(rows: Sequence[Any], after_lines: int) -> list[Any]:
    """A group's records cut to the code up to ``after_lines`` lines past its last change.

    For training on a CPU budget: the tokens before the first change are the same in every
    record of a group (their log-probabilities cancel in the pairwise loss) and the effect
    of a change fades a few lines after it, so the window keeps most of the signal at a
    fraction of the tokens. Each record's ``after`` is cut past its own last changed line,
    ``before`` (and the no-op) past the last line any record of the group changed."""
    import difflib

    if not rows:
        return []
    before = rows[0].before
    b_lines = before.splitlines(keepends=True)

    def last_changed(after: str) -> tuple[int, int]:
        sm = difflib.SequenceMatcher(a=b_lines, b=after.splitlines(keepends=True), autojunk=False)
        last_a = last_b = -1
        for tag, i1, i2, j1, j2 in sm.get_opcodes():
            if tag != "equal":
                last_a, last_b = max(last_a, i2 - 1, i1), max(last_b, j2 - 1, j1)
        return last_a, last_b

    ends = {id(r): last_changed(r.after) for r in rows}
    cut_before = max(a for a, _ in ends.values()) + 1 + after_lines
    new_before = "".join(b_lines[:cut_before])
    out = []
    for r in rows:
        _, last_b = ends[id(r)]
        if r.after == before:
            after = new_before
        else:
            after = "".join(r.after.splitlines(keepends=True)[: last_b + 1 + after_lines])
        out.append(r.with_(before=new_before, after=after))
    return out


def _stable_order(fixes: Sequence[Fix]) -> list[Fix]:
    """Dedupe (the same before/after pair from two commits) and order by a content hash, so a
    cap takes a spread of the history and the result does not depend on scan order."""
    seen: set[tuple[str, str]] = set()
    keyed = []
    for f in fixes:
        key = (f.before, f.after)
        if key in seen:
            continue
        seen.add(key)
        keyed.append(
            (hashlib.sha256(f"{f.source}\0{f.ident}\0{f.path}\0{f.name}".encode()).hexdigest(), f)
        )
    return [f for _, f in sorted(keyed, key=lambda kv: kv[0])]


def build(
    sources: Sequence[tuple[str, Sequence[Fix]]], valid: Sequence[str], opts: Options
) -> tuple[list[Any], dict[str, Any]]:
    """Records of every source (name, its fixes), split by source name; and a summary."""
    records: list[Any] = []
    per_source: dict[str, dict[str, int]] = {}
    for name, fixes in sources:
        split = "valid" if name in valid else "train"
        groups = 0
        n = 0
        cap = opts.max_valid_groups if split == "valid" else opts.max_groups_per_source
        for fix in _stable_order(fixes):
            if groups >= cap:
                break
            rows = records_of(fix, split, opts)
            if len(rows) < 3:  # no wrong fix: only fix vs noop
                continue
            if split == "train" and opts.train_window:
                rows = windowed(rows, opts.train_window)
            records += rows
            groups += 1
            n += len(rows)
        per_source[name] = {
            "groups": groups,
            "records": n,
            "fixes_found": len(fixes),
            "valid": int(split == "valid"),
        }
    summary = {"sources": per_source, "options": opts.to_json(), "valid": sorted(valid)}
    return records, summary


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--bugsinpy", type=Path, help="BugsInPy checkout or bare git repository")
    ap.add_argument(
        "--bugsinpy-repo",
        action="append",
        default=[],
        metavar="NAME=GITDIR",
        help="a BugsInPy project's repository (repeat)",
    )
    ap.add_argument(
        "--history",
        action="append",
        default=[],
        metavar="NAME=GITDIR",
        help="a repository to mine fix commits from (repeat)",
    )
    ap.add_argument("--valid", default="", help="comma-separated source names for the valid split")
    ap.add_argument("--out", type=Path, required=True)
    for f, v in Options().to_json().items():
        ap.add_argument("--" + f.replace("_", "-"), type=int, default=v)
    args = ap.parse_args(argv)
    opts = Options(**{f: getattr(args, f) for f in Options().to_json()})
    from codeprm.prm.records import write_records

    sources: list[tuple[str, list[Fix]]] = []
    for spec in args.bugsinpy_repo:
        name, _, gitdir = spec.partition("=")
        if args.bugsinpy is None:
            ap.error("--bugsinpy-repo needs --bugsinpy")
        sources.append(
            (f"bugsinpy:{name}", list(bugsinpy_fixes(args.bugsinpy, name, Path(gitdir), opts)))
        )
        print(f"bugsinpy:{name}: {len(sources[-1][1])} function fixes", file=sys.stderr)
    for spec in args.history:
        name, _, gitdir = spec.partition("=")
        sources.append((f"history:{name}", list(history_fixes(name, Path(gitdir), opts))))
        print(f"history:{name}: {len(sources[-1][1])} function fixes", file=sys.stderr)
    valid = [
        v if ":" in v else next((n for n, _ in sources if n.split(":", 1)[1] == v), v)
        for v in args.valid.split(",")
        if v
    ]
    records, summary = build(sources, valid, opts)
    n = write_records(args.out, records)
    summary["records"] = n
    summary["groups"] = len({r.bug_id for r in records})
    import json

    args.out.with_suffix(".summary.json").write_text(
        json.dumps(summary, indent=2, sort_keys=True) + "\n"
    )
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
