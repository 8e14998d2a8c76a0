"""Renaming an identifier does not turn the diagnostics that name it into new ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import check_bundle, git, run_cli

pytestmark = pytest.mark.e2e

SOURCE = 'def f(x: int) -> int:\n    return x\n\n\ndef g() -> int:\n    return f("s")\n'


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "m.py").write_text(SOURCE)
    (root / "use.py").write_text('from m import f\n\nf("t")\n')
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


def test_rename_keeps_a_callers_existing_error_that_names_the_function(repo: Path) -> None:
    diag = json.loads(run_cli("diag", "-w", str(repo), "--json").out)
    assert (
        sum('"f"' in d["message"] for d in diag["facts"]["diagnostics"]) == 2
    )  # both callers name f
    r = run_cli("rename", "py://m#f", "ff", "-w", str(repo), "--json")
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    assert bundle["facts"]["introduced"] == [] and bundle["facts"]["fixed"] == []
    applied = run_cli("rename", "py://m#f", "ff", "-w", str(repo), "--apply")
    assert applied.code == 0, applied.err
    assert "def ff(" in (repo / "m.py").read_text() and "import ff" in (repo / "use.py").read_text()


def test_step_sees_a_rename_as_no_new_diagnostic(repo: Path, tmp_path: Path) -> None:
    edit = tmp_path / "rename.diff"
    edit.write_text(
        '--- a/m.py\n+++ b/m.py\n@@ -1,6 +1,6 @@\n-def f(x: int) -> int:\n+def ff(x: int) -> int:\n     return x\n \n \n def g() -> int:\n-    return f("s")\n+    return ff("s")\n'
        '--- a/use.py\n+++ b/use.py\n@@ -1,3 +1,3 @@\n-from m import f\n+from m import ff\n \n-f("t")\n+ff("t")\n'
    )
    r = run_cli("step", str(edit), "-w", str(repo), "--json")
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    assert bundle["facts"]["introduced"] == [] and bundle["facts"]["fixed"] == []
    assert bundle["processReward"]["total"] == 0
