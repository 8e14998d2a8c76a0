"""Small real git repositories and many distinct step samples over them, shared by the
Ray tests (tests/e2e/test_ray_pool.py) and benchmarks/ray_scale.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

from codeprm.integrations.contract import Sample

LINES = 10


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def make_repos(base: Path, count: int = 4) -> list[tuple[Path, str]]:
    """``count`` repositories, each one commit: ``mod.py`` (typed constants and a function)
    and ``use.py`` importing it, so a step's cover is two files."""
    out = []
    for r in range(count):
        repo = base / f"repo{r}"
        repo.mkdir(parents=True)
        _git(repo, "init", "-q")
        consts = "".join(f"v{i}: int = {i + r}\n" for i in range(LINES))
        (repo / "mod.py").write_text(
            f"{consts}\n\ndef total() -> int:\n    return v0 + v{LINES - 1}\n"
        )
        (repo / "use.py").write_text(
            f"from mod import total, v1\n\nanswer: int = total() + v1 + {r}\n"
        )
        (repo / "pyrightconfig.json").write_text('{"typeCheckingMode": "standard"}\n')
        _git(repo, "add", ".")
        _git(repo, "commit", "-qm", f"repo {r}")
        out.append((repo, _git(repo, "rev-parse", "HEAD").strip()))
    return out


def edit(r: int, j: int) -> str:
    """The j-th distinct edit of repository r: one constant retyped to a string (a new
    error) or given another int (no change), cycling over the lines."""
    line, variant = j % LINES, j // LINES
    new = f'"s{variant}"' if variant % 2 == 0 else str(100 + variant)
    return f"--- a/mod.py\n+++ b/mod.py\n@@ -{line + 1} +{line + 1} @@\n-v{line}: int = {line + r}\n+v{line}: int = {new}\n"


def samples(repos: list[tuple[Path, str]], per_repo: int) -> list[Sample]:
    """``per_repo`` samples of each repository, interleaved (as a trainer's batch would be)."""
    return [
        Sample(str(repos[r][0]), repos[r][1], edit(r, j), f"task {r}.{j}")
        for j in range(per_repo)
        for r in range(len(repos))
    ]
