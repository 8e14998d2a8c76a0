"""Proposal coverage: is the real fix among the repair candidates, per bug class.

A ranking cannot pick a fix that was never proposed. This measures, for
``MutationRepairs`` (the mutation, undefined-name and return repairs the repair loop
proposes for the functions the tests call), how often the fixed text is among the
candidates of the buggy function, on two sets:

* ``bugsinpy``: real bugs from BugsInPy (https://github.com/soarsmu/BugsInPy) whose
  patch changes, adds or removes exactly one line of one non-test ``.py`` file. The
  fixed file comes from the project's git history (``git show FIXED:path``); the
  buggy file is the fixed one with the patch reversed. The proposer sees the buggy
  file with the buggy function as the one the tests called (perfect localization to
  the function: this measures proposals, not the localizer). Covered means some
  candidate equals the fixed file after dropping all whitespace.
* ``stdlib``: injected bugs (``codeprm.prm.mutate``) in the standard-library modules of
  ``benchmarks/repair.py``: covered means the original module is among the candidates.

Neither needs a test run. Mirrors are not in CI: pass the BugsInPy checkout (or a bare
git directory) and a directory holding the project repositories, either as
``<owner>+<name>/repo`` (what ``fetch`` brings) or ``<name>`` (a clone).
``--rev REV`` measures the proposer of another revision of this repository too (its
``codeprm`` package extracted with ``git archive`` and run in a child process), side by
side: before and after.

Run: python benchmarks/proposal_coverage.py --bugsinpy DIR --mirrors DIR [--projects luigi,scrapy] [--rev HEAD~1] [--stdlib]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import tokenize
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_PROJECTS = ("luigi", "thefuck", "youtube-dl", "scrapy", "tqdm", "keras")
TEST_PATH = re.compile(r"(^|/)(tests?|testing)(/|$)|(^|/)test_[^/]*\.py$|_test\.py$")
STDLIB_MODULES = (
    "textwrap",
    "colorsys",
    "fnmatch",
    "shlex",
    "calendar",
    "string",
    "quopri",
    "bisect",
    "heapq",
    "fractions",
    "graphlib",
    "reprlib",
    "getopt",
    "base64",
    "difflib",
    "pprint",
)


@dataclass
class Bug:
    id: str
    path: str
    buggy: str
    fixed: str
    line: int  # 0-based line of the change in the buggy file
    kind: str


@dataclass
class Outcome:
    id: str
    kind: str
    covered: bool
    candidates: int
    position: int  # 1-based position of the fix in proposer order; 0 when not proposed


# reading BugsInPy and the project repositories ------------------------------------------


def _git(git_dir: Path, *args: str) -> str | None:
    run = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    return run.stdout if run.returncode == 0 else None


def _git_dir(path: Path) -> Path:
    return path / ".git" if (path / ".git").exists() else path


class BugsInPy:
    """A checkout of BugsInPy, or its bare git directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bare = not (path / "projects").is_dir()

    def read(self, rel: str) -> str | None:
        if not self.bare:
            file = self.path / rel
            return file.read_text("utf-8", errors="replace") if file.is_file() else None
        return _git(self.path, "show", f"HEAD:{rel}")

    def bug_ids(self, project: str) -> list[str]:
        if not self.bare:
            return sorted(
                (p.name for p in (self.path / "projects" / project / "bugs").iterdir()), key=int
            )
        listing = _git(self.path, "ls-tree", "--name-only", f"HEAD:projects/{project}/bugs/") or ""
        return sorted(listing.split(), key=int)


def _info(text: str) -> dict[str, str]:
    return {
        k: v.strip().strip('"') for k, v in re.findall(r'^(\w+)\s*=\s*"?([^"\n]*)"?', text, re.M)
    }


def project_repo(mirrors: Path, url: str) -> Path | None:
    owner, name = url.rstrip("/").split("/")[-2:]
    for candidate in (
        mirrors / f"{owner}+{name}" / "repo",
        mirrors / name,
        mirrors / f"{owner}+{name}",
    ):
        if candidate.exists():
            return _git_dir(candidate)
    return None


def one_line_change(patch: str) -> tuple[str, int, str | None, str | None] | None:
    """(path, 1-based line in the fixed file, removed line, added line) of a one-line patch."""
    files = re.findall(r"^diff --git a/(\S+) b/", patch, re.M)
    if len(files) != 1 or not files[0].endswith(".py") or TEST_PATH.search(files[0]):
        return None
    removed: list[str] = []
    added: list[tuple[int, str]] = []
    anchor = 0  # fixed-file line where a pure removal sat
    new_line = 0
    for line in patch.splitlines():
        hunk = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)", line)
        if hunk:
            new_line = int(hunk.group(1))
            continue
        if line.startswith(("---", "+++", "diff ", "index ")) or not new_line:
            continue
        if line.startswith("-"):
            if line[1:].strip():
                removed.append(line[1:])
                anchor = new_line
        elif line.startswith("+"):
            if line[1:].strip():
                added.append((new_line, line[1:]))
            new_line += 1
        else:
            new_line += 1
    if len(removed) > 1 or len(added) > 1 or not (removed or added):
        return None
    where = added[0][0] if added else anchor
    return files[0], where, removed[0] if removed else None, added[0][1] if added else None


def reverse(
    fixed: str, where: int, removed: str | None, added: str | None
) -> tuple[str, int] | None:
    """The buggy text (the fix undone) and the 0-based line of the change in it."""
    lines = fixed.splitlines(keepends=True)
    i = where - 1
    if added is not None:
        if i >= len(lines) or lines[i].rstrip("\r\n") != added:
            return None
        if removed is None:
            return "".join(lines[:i] + lines[i + 1 :]), max(i - 1, 0)
        return "".join([*lines[:i], removed + "\n", *lines[i + 1 :]]), i
    assert removed is not None
    return "".join([*lines[:i], removed + "\n", *lines[i:]]), i


def _tokens(line: str) -> list[str]:
    try:
        toks = tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline)
        return [
            t.string
            for t in toks
            if t.type
            not in (
                tokenize.NEWLINE,
                tokenize.NL,
                tokenize.ENDMARKER,
                tokenize.INDENT,
                tokenize.DEDENT,
                tokenize.COMMENT,
            )
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return line.split()


AUG = {"+=", "-=", "*=", "/=", "//=", "%=", "|=", "&=", "^=", "<<=", ">>=", "**="}
CMP = {"<", "<=", ">", ">=", "==", "!=", "is", "in"}
BIN = {"+", "-", "*", "/", "//", "%", "**", "|", "&", "^", "<<", ">>", "and", "or"}
CONSTS = {"0", "1", "-1", "None", "True", "False", "''", '""', "[]", "{}", "()"}


def classify(removed: str | None, added: str | None) -> str:
    """The bug class of a one-line change (removed: the buggy line, added: the fixed line)."""
    import difflib

    if removed is None:
        word = _tokens(added or "")[:1]
        return {
            "return": "missing-return",
            "break": "missing-break",
            "continue": "missing-break",
        }.get(word[0] if word else "", "missing-line")
    if added is None:
        return "extra-line"
    a, b = _tokens(removed), _tokens(added)
    if Counter(a) == Counter(b):
        return "swapped"
    ops = [
        op
        for op in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        if op[0] != "equal"
    ]
    old = [t for op in ops for t in a[op[1] : op[2]]]
    new = [t for op in ops for t in b[op[3] : op[4]]]
    if (
        any(t.startswith(("'", '"', "r'", 'r"', "b'", 'b"', "f'", 'f"')) for t in old + new)
        and not set(old + new) <= CONSTS
    ):
        return "string-literal"
    if len(ops) == 1:
        if set(old) | set(new) <= AUG:
            return "augassign-swap"
        if old and new and set(old) <= CMP | {"not"} and set(new) <= CMP | {"not"}:
            return "compare-swap"
        if len(old) == len(new) == 1 and old[0] in BIN and new[0] in BIN:
            return "operator-swap"
        if sorted(old + new) in (["+", "1"], ["-", "1"]) and not (old and new):
            return "off-by-one"
        if len(old) == len(new) == 1 and old[0].isdigit() and new[0].isdigit():
            return "off-by-one" if abs(int(old[0]) - int(new[0])) == 1 else "constant"
        if ":" in a[max(ops[0][1] - 2, 0) : ops[0][2] + 2] and "[" in a[: ops[0][1] + 1]:
            return "slice-bound"
        if old and new and set(old) <= CONSTS | {"-"} and set(new) <= CONSTS | {"-"}:
            return "constant"
        if (
            (old, new) in ([], ["not"])
            or (old, new) == (["not"], [])
            or ("not" in old + new and len(old + new) == 1)
        ):
            return "negation"
        if {"and", "or"} & set(old + new) and not (old and new):
            return "condition"
        if new == ["self", "."] and not old:
            return "missing-self"
        if not old and new and new[0] == "return":
            return "missing-return"
        if (not old and new in (["(", ")"],)) or (not new and old in (["(", ")"],)):
            return "call-added-or-removed"
        if len(old) == len(new) == 1 and old[0].isidentifier() and new[0].isidentifier():
            return (
                "wrong-attribute" if ops[0][1] > 0 and a[ops[0][1] - 1] == "." else "wrong-variable"
            )
        if len(old + new) == 2 and not (old and new) and "." in old + new:
            return "receiver"
        if new and new[-1] == ")" and "(" in new and not old:
            return "call-added-or-removed"
        if bool(old) != bool(new) and "," in (old + new)[:1] + (old + new)[-1:]:
            return "argument-added-or-removed"
    return "other"


def load_bugs(bip: BugsInPy, mirrors: Path, projects: list[str]) -> tuple[list[Bug], list[str]]:
    bugs: list[Bug] = []
    skipped: list[str] = []
    for project in projects:
        info = bip.read(f"projects/{project}/project.info")
        repo = project_repo(mirrors, _info(info or "").get("github_url", "")) if info else None
        if repo is None:
            skipped.append(f"{project}: no repository under {mirrors}")
            continue
        for n in bip.bug_ids(project):
            patch = bip.read(f"projects/{project}/bugs/{n}/bug_patch.txt") or ""
            change = one_line_change(patch)
            if change is None:
                continue
            path, where, removed, added = change
            meta = _info(bip.read(f"projects/{project}/bugs/{n}/bug.info") or "")
            fixed = _git(repo, "show", f"{meta.get('fixed_commit_id')}:{path}")
            back = reverse(fixed, where, removed, added) if fixed is not None else None
            if fixed is None or back is None:
                skipped.append(f"{project}/{n}: fixed file or patch location not found")
                continue
            buggy, line = back
            bugs.append(Bug(f"{project}/{n}", path, buggy, fixed, line, classify(removed, added)))
    return bugs, skipped


def stdlib_bugs(per_module: int, seed: int) -> list[Bug]:
    """Injected bugs: a few mutations of a few functions of each standard-library module."""
    import sysconfig

    from codeprm.agents.proposers import function_spans
    from codeprm.prm.mutate import enumerate_mutations

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    rng = random.Random(seed)
    bugs: list[Bug] = []
    for module in STDLIB_MODULES:
        source = stdlib / f"{module}.py"
        if not source.is_file():
            continue
        original = source.read_text("utf-8")
        spans = function_spans(original)
        rng.shuffle(spans)
        for start, end, qualname in spans[:per_module]:
            snippet = original[start:end]
            mutations = enumerate_mutations(snippet)
            if not mutations:
                continue
            m = rng.choice(mutations)
            buggy = original[:start] + m.apply(snippet) + original[end:]
            line = original.count("\n", 0, start + m.site)
            bugs.append(Bug(f"{module}:{qualname}", f"{module}.py", buggy, original, line, m.kind))
    return bugs


# measuring ---------------------------------------------------------------------------------


def _is_fix(
    new_text: str, bug: Bug, start: int, end: int, want: str, fixed_ast: str | None
) -> bool:
    """The fixed text with whitespace dropped, or the same AST of the function (parentheses)."""
    if _squash(new_text) == want:
        return True
    if (
        len(new_text) != len(bug.fixed)
        or new_text[:start] != bug.fixed[:start]
        or fixed_ast is None
    ):
        return False
    from codeprm.prm.mutate import normalised_ast

    return normalised_ast(new_text[start:end]) == fixed_ast


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def measure(bugs: list[Bug]) -> list[Outcome]:
    from codeprm.agents.proposers import MutationRepairs, Observation, function_spans
    from codeprm.prm.mutate import normalised_ast

    out = []
    for bug in bugs:
        spans = function_spans(bug.buggy)
        lines = bug.buggy.splitlines(keepends=True)
        # the first non-blank character of the line: a ``def`` line belongs to its function
        offset = (
            sum(len(line) for line in lines[: bug.line])
            + len(lines[bug.line])
            - len(lines[bug.line].lstrip())
            if bug.line < len(lines)
            else len(bug.buggy)
        )
        inside = [s for s in spans if s[0] <= offset < s[1]]
        if not inside:
            out.append(
                Outcome(bug.id, bug.kind, False, 0, 0)
            )  # not in a function: nothing proposed
            continue
        start = min(inside, key=lambda s: s[1] - s[0])[0]
        called = {bug.path: [bug.buggy.count("\n", 0, start)]}
        proposals = MutationRepairs().propose(
            Observation({bug.path: bug.buggy}, [bug.path], called=called)
        )
        want = _squash(bug.fixed)
        end = min(inside, key=lambda s: s[1] - s[0])[1]
        grow = len(bug.fixed) - len(bug.buggy)
        # the fix as text (whitespace dropped), or the same AST of the function (parentheses)
        fixed_ast = normalised_ast(bug.fixed[start : end + grow])

        position = next(
            (
                n
                for n, p in enumerate(proposals, 1)
                if _is_fix(p.new_text, bug, start, end + grow, want, fixed_ast)
            ),
            0,
        )
        out.append(Outcome(bug.id, bug.kind, position > 0, len(proposals), position))
    return out


def _extract(rev: str) -> Path:
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", rev, "codeprm"],
        capture_output=True,
        check=True,
    ).stdout
    target = Path(tempfile.mkdtemp(prefix="codeprm-rev-"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def report(sets: dict[str, list[Outcome]], bugs: list[Bug]) -> None:
    labels = list(sets)
    by_kind: dict[str, dict[str, list[Outcome]]] = defaultdict(lambda: defaultdict(list))
    for label, outcomes in sets.items():
        for o in outcomes:
            by_kind[o.kind][label].append(o)
    header = f"{'bug class':<24} {'bugs':>5} " + " ".join(f"{label:>16}" for label in labels)
    print(header)
    for kind in sorted(by_kind, key=lambda k: (-len(next(iter(by_kind[k].values()))), k)):
        cells = [
            f"{sum(o.covered for o in by_kind[kind][label])}/{len(by_kind[kind][label])}"
            for label in labels
        ]
        print(
            f"{kind:<24} {len(next(iter(by_kind[kind].values()))):>5} "
            + " ".join(f"{c:>16}" for c in cells)
        )
    cells = []
    for label in labels:
        outcomes = sets[label]
        hit = sum(o.covered for o in outcomes)
        cells.append(f"{hit}/{len(outcomes)} {100 * hit / max(len(outcomes), 1):3.0f}%")
    print(f"{'overall':<24} {len(bugs):>5} " + " ".join(f"{c:>16}" for c in cells))
    for label in labels:
        counts = sorted(o.candidates for o in sets[label])
        found = sorted(o.position for o in sets[label] if o.covered)
        median = counts[len(counts) // 2] if counts else 0
        print(f"{label}: candidates per bug median {median}, max {max(counts, default=0)}; "
              f"fix position median {found[len(found) // 2] if found else '-'}; covered within the first 30: {sum(1 for p in found if p <= 30)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bugsinpy", type=Path, help="BugsInPy checkout or bare git directory")
    parser.add_argument("--mirrors", type=Path, help="directory holding the projects' repositories")
    parser.add_argument("--projects", default=",".join(DEFAULT_PROJECTS))
    parser.add_argument(
        "--stdlib", action="store_true", help="also measure injected standard-library bugs"
    )
    parser.add_argument(
        "--per-module", type=int, default=6, help="injected bugs per standard-library module"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rev", help="also measure this revision's proposer (before/after)")
    parser.add_argument(
        "--list", action="store_true", help="print every bug with its class and outcome"
    )
    parser.add_argument(
        "--json-out", type=Path, help=argparse.SUPPRESS
    )  # the child process's answer
    parser.add_argument("--bugs-in", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bugs_in is not None:  # child: measure the given bugs with the codeprm on PYTHONPATH
        bugs = [Bug(**b) for b in json.loads(args.bugs_in.read_text("utf-8"))]
        args.json_out.write_text(json.dumps([asdict(o) for o in measure(bugs)]), "utf-8")
        return
    groups: dict[str, list[Bug]] = {}
    if args.bugsinpy is not None:
        if args.mirrors is None:
            parser.error("--bugsinpy needs --mirrors")
        real, skipped = load_bugs(BugsInPy(args.bugsinpy), args.mirrors, args.projects.split(","))
        for line in skipped:
            print(f"skipped {line}")
        groups["BugsInPy one-line bugs"] = real
    if args.stdlib:
        groups["injected standard-library bugs"] = stdlib_bugs(args.per_module, args.seed)
    if not groups:
        parser.error("give --bugsinpy and --mirrors, or --stdlib")
    for title, bugs in groups.items():
        print(f"\n{title}: {len(bugs)}")
        sets = {}
        if args.rev:
            with tempfile.TemporaryDirectory() as tmp:
                src = _extract(args.rev)
                bugs_file, out_file = Path(tmp) / "bugs.json", Path(tmp) / "out.json"
                bugs_file.write_text(json.dumps([asdict(b) for b in bugs]), "utf-8")
                env = {
                    **os.environ,
                    "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
                }
                subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--bugs-in",
                        str(bugs_file),
                        "--json-out",
                        str(out_file),
                    ],
                    env=env,
                    check=True,
                    cwd=src,
                )
                sets[args.rev] = [Outcome(**o) for o in json.loads(out_file.read_text("utf-8"))]
        sets["this tree"] = measure(bugs)
        report(sets, bugs)
        if args.list:
            for n, bug in enumerate(bugs):
                print(
                    f"  {bug.id:<36} {bug.kind:<22} "
                    + "  ".join(
                        f"{label}: {'pos ' + str(s[n].position) if s[n].covered else 'miss'} of {s[n].candidates}"
                        for label, s in sets.items()
                    )
                )


if __name__ == "__main__":
    main()
