"""Shared fixtures: copies of fixture workspaces, a live analyzer, a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

#: a diff against fixtures/ws_basic that drops area's second parameter: it breaks both callers
BREAK = """--- a/pkg/geometry.py
+++ b/pkg/geometry.py
@@ -17,3 +17,3 @@
-def area(width: float, height: float) -> float:
+def area(width: float) -> float:
     \"\"\"Area of a rectangle.\"\"\"
-    return width * height
+    return width * width
"""
REPO = Path(__file__).resolve().parents[1]


def copy_fixture(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(FIXTURES / name, target)
    return target


@pytest.fixture(scope="session")
def ws_basic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of tests/fixtures/ws_basic (tests may not write to the repo)."""
    return copy_fixture("ws_basic", tmp_path_factory.mktemp("ws"))


@pytest.fixture(scope="session")
def analyzer(ws_basic: Path) -> Iterator[Any]:
    """One warm basedpyright session over ws_basic, shared by the e2e tests."""
    from codeprm.analysis.navigate import Analyzer

    with Analyzer(root=ws_basic, timeout=60) as an:
        yield an


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> Result:
    """Run ``python -m codeprm`` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("CODEPRM_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "codeprm", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_error(result: Result, code: int, fragment: str = "") -> None:
    """A failure is exactly one line on stderr, the right code, and no traceback."""
    assert result.code == code, (result.code, result.err)
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("codeprm: error: "), lines
    assert "Traceback" not in result.err
    assert fragment in lines[0], lines[0]


def git(repo: Path, *args: str) -> str:
    """Run git in a test repository with a fixed identity; returns stdout."""
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def tree(root: Path, skip: tuple[str, ...] = (".git",)) -> dict[str, bytes]:
    """Every file under root (but those under a skipped directory name) with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not set(skip) & set(p.relative_to(root).parts)
    }


def check_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """Every bundle a test sees must validate against the published schema and id."""
    from codeprm.bundles.schema import validate_bundle

    validate_bundle(bundle)
    return bundle


@pytest.fixture(autouse=True, scope="session")
def _private_journal_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the per-user journal key (codeprm.workspace.private) out of the real home."""
    old = os.environ.get("CODEPRM_STATE_HOME")
    os.environ["CODEPRM_STATE_HOME"] = str(tmp_path_factory.mktemp("codeprm-state") / "codeprm")
    yield
    if old is None:
        os.environ.pop("CODEPRM_STATE_HOME", None)
    else:
        os.environ["CODEPRM_STATE_HOME"] = old
