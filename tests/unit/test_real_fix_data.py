"""benchmarks/real_fix_data.py on a tiny real git repository: fix commits become groups of step
records (fix good; noop, mutants and broken names bad), split by repository, sources recorded,
held-out projects refused, the build deterministic."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from codeprm.prm.records import read_records

ROOT = Path(__file__).resolve().parents[2]

STATS = '''"""Small statistics."""


def mean(values):
    total = 0
    for v in values:
        total += v
    return total / (len(values) - 1)


class Window:
    def __init__(self, size):
        self.size = size

    def last(self, values):
        if len(values) < self.size:
            return values
        return values[-self.size + 1:]
'''


@pytest.fixture(scope="module")
def rfd() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "real_fix_data_bench", ROOT / "benchmarks" / "real_fix_data.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def git(repo: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
        "GIT_AUTHOR_DATE": "2020-01-01T00:00:00Z",
        "GIT_COMMITTER_DATE": "2020-01-01T00:00:00Z",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("hist") / "proj"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(
        repo,
        {"stats.py": STATS, "tests/test_stats.py": "def test_mean():\n    pass\n"},
        "Initial import",
    )
    fixed = STATS.replace("(len(values) - 1)", "len(values)")
    commit(repo, {"stats.py": fixed}, "Fix mean: divide by the number of values")
    # a fix in two functions, one test change alongside
    fixed2 = fixed.replace("values[-self.size + 1:]", "values[-self.size:]")
    commit(
        repo,
        {"stats.py": fixed2, "tests/test_stats.py": "def test_mean():\n    assert True\n"},
        "Fix off-by-one bug in Window.last",
    )
    # not a fix (the subject says nothing of one), and a docstring-only "fix"
    commit(repo, {"stats.py": fixed2.replace("total = 0", "total = 0.0")}, "Use floats")
    commit(
        repo,
        {
            "stats.py": fixed2.replace("total = 0", "total = 0.0").replace(
                "Small statistics.", "Statistics."
            )
        },
        "Fix typo in docstring",
    )
    return repo


def test_fix_commits_become_groups_of_labelled_records(rfd: ModuleType, repo: Path) -> None:
    opts = rfd.Options()
    fixes = list(rfd.history_fixes("proj", repo, opts))
    assert sorted((f.name, f.source) for f in fixes) == [
        ("Window.last", "history:proj"),
        ("mean", "history:proj"),
    ]
    window = next(f for f in fixes if f.name == "Window.last")
    assert window.context == "# file: stats.py\nclass Window:\n"  # the unit's scoring context
    assert "values[-self.size + 1:]" in window.before and "values[-self.size:]" in window.after
    rows = rfd.records_of(window, "train", opts)
    assert [r.label for r in rows].count(True) == 1
    fix = next(r for r in rows if r.label)
    assert fix.candidate == "fix" and fix.before == window.before and fix.after == window.after
    noop = next(r for r in rows if r.candidate == "noop")
    assert noop.after == noop.before and not noop.label
    wrong = [r for r in rows if r.candidate.startswith(("mutant:", "broken-name:"))]
    assert wrong and all(
        not r.label and r.after not in (window.before, window.after) for r in wrong
    )
    assert len({r.bug_id for r in rows}) == 1 and rows[0].source_path == "history:proj/stats.py"
    assert all(r.before == window.before and r.context == window.context for r in rows)


def test_the_build_splits_by_repository_and_is_deterministic(
    rfd: ModuleType, repo: Path, tmp_path: Path
) -> None:
    argv = ["--history", f"proj={repo}", "--history", f"again={repo}", "--valid", "again"]
    rfd.main([*argv, "--out", str(tmp_path / "a.jsonl")])
    rfd.main([*argv, "--out", str(tmp_path / "b.jsonl")])
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    records = read_records(tmp_path / "a.jsonl")
    split_of = {r.source_path.split("/")[0]: r.split for r in records}
    assert split_of == {"history:proj": "train", "history:again": "valid"}
    assert len({r.bug_id for r in records}) == 4  # two fixes from each copy
    for bug in {r.bug_id for r in records}:
        group = [r for r in records if r.bug_id == bug]
        assert sum(r.label for r in group) == 1 and len(group) >= 3


def test_held_out_projects_are_refused(rfd: ModuleType, repo: Path, tmp_path: Path) -> None:
    for name in ("tqdm", "luigi", "QuixBugs"):
        with pytest.raises(SystemExit, match="held out"):
            rfd.main(["--history", f"{name}={repo}", "--out", str(tmp_path / "x.jsonl")])
    assert not (tmp_path / "x.jsonl").exists()


def test_a_training_window_cuts_every_record_past_the_groups_change(rfd: ModuleType) -> None:
    before = "def f(xs):\n    a = 1\n    b = a + 1\n    c = b * 2\n    d = c - 1\n    e = d + a\n    return e\n"
    after = before.replace("b = a + 1", "b = a + 2")
    fix = rfd.Fix("history:x", "c0ffee", "m.py", "f", before, after, "# file: m.py\n")
    rows = rfd.records_of(fix, "train", rfd.Options(mutants=2, broken=0))
    cut = rfd.windowed(rows, 1)
    assert [r.candidate for r in cut] == [r.candidate for r in rows] and [r.label for r in cut] == [
        r.label for r in rows
    ]
    by = {r.candidate: r for r in cut}
    assert by["fix"].after == "def f(xs):\n    a = 1\n    b = a + 2\n    c = b * 2\n"
    assert by["noop"].after == by["noop"].before and all(r.before == by["noop"].before for r in cut)
    assert all(before.startswith(r.before) for r in cut) and all(
        len(r.after) < len(before) + 8 for r in cut
    )
