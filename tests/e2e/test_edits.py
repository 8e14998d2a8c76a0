"""rename, actions and apply against the real server, on real git repositories."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, assert_clean_error, check_bundle, git, run_cli, tree

pytestmark = pytest.mark.e2e


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", root)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


def test_rename_preview_is_exactly_what_apply_writes(repo: Path, tmp_path: Path) -> None:
    before = tree(repo, (".git", ".codeprm"))
    r = run_cli("rename", "py://pkg.geometry#area", "surface", "-w", str(repo))
    assert r.code == 0, r.err
    assert tree(repo, (".git", ".codeprm")) == before  # preview writes nothing
    assert r.out.count("+from pkg.geometry import") == 2 and "+def surface(" in r.out
    bundle = check_bundle(
        json.loads(
            run_cli("rename", "py://pkg.geometry#area", "surface", "-w", str(repo), "--json").out
        )
    )
    assert [e["path"] for e in bundle["edits"]] == [
        "pkg/app.py",
        "pkg/broken.py",
        "pkg/geometry.py",
    ]
    assert bundle["facts"]["oldName"] == "area" and bundle["facts"]["introduced"] == []
    applied = run_cli("rename", "py://pkg.geometry#area", "surface", "-w", str(repo), "--apply")
    assert applied.code == 0, applied.err
    # the preview diff applied to the old tree gives byte for byte what --apply wrote
    check = tmp_path / "check"
    check.mkdir()
    for rel, data in before.items():
        (check / rel).parent.mkdir(parents=True, exist_ok=True)
        (check / rel).write_bytes(data)
    subprocess.run(["git", "apply", "-"], cwd=check, input=r.out.encode(), check=True)
    assert tree(check, (".git", ".codeprm")) == tree(repo, (".git", ".codeprm"))
    assert "surface(2.0, 5.0)" in (repo / "pkg/app.py").read_text()


@pytest.mark.parametrize(
    ("selector", "name", "code", "fragment"),
    [
        ("py://pkg.geometry#area", "not valid", 2, "not a valid Python identifier"),
        ("py://pkg.geometry#area", "class", 2, "not a valid Python identifier"),
        ("py://pkg.geometry#Point.norm", "__init__", 70, "clashes"),
        ("pkg/app.py@L4:C1", "x", 3, "nothing renamable"),
        ("py://pkg.geometry#nothere", "x", 3, ""),
    ],
)
def test_rename_refusals(repo: Path, selector: str, name: str, code: int, fragment: str) -> None:
    before = tree(repo, (".git", ".codeprm"))
    assert_clean_error(
        run_cli("rename", selector, name, "-w", str(repo), "--apply"), code, fragment
    )
    assert tree(repo, (".git", ".codeprm")) == before


def test_rename_that_introduces_errors_is_refused(repo: Path) -> None:
    # renaming the parameter y of Point.__init__ to x makes a duplicate parameter
    before = tree(repo, (".git", ".codeprm"))
    r = run_cli("rename", "pkg/geometry.py@L9:C34", "x", "-w", str(repo), "--apply")
    assert_clean_error(r, 70, "introduces")
    assert tree(repo, (".git", ".codeprm")) == before


def test_rename_refuses_a_dirty_tree_unless_allowed(repo: Path) -> None:
    (repo / "pkg/app.py").write_text((repo / "pkg/app.py").read_text() + "\n# local change\n")
    before = tree(repo, (".git", ".codeprm"))
    assert_clean_error(
        run_cli("rename", "py://pkg.geometry#area", "surface", "-w", str(repo), "--apply"), 71, ""
    )
    assert tree(repo, (".git", ".codeprm")) == before
    assert (
        run_cli(
            "rename",
            "py://pkg.geometry#area",
            "surface",
            "-w",
            str(repo),
            "--apply",
            "--allow-dirty",
        ).code
        == 0
    )
    assert "surface" in (repo / "pkg/app.py").read_text()


def test_actions_lists_quick_fixes(repo: Path) -> None:
    r = run_cli("actions", "pkg/broken.py@L5:C30", "-w", str(repo), "--json")
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    titles = [a["title"] for a in bundle["facts"]["actions"]]
    assert "Add `# pyright: ignore[reportUndefinedVariable]`" in titles
    action = bundle["facts"]["actions"][
        titles.index("Add `# pyright: ignore[reportUndefinedVariable]`")
    ]
    assert (
        "+    return area(1.0, 2.0) + missing_name  # pyright: ignore[reportUndefinedVariable]"
        in action["diff"]
    )


def test_apply_workspace_edit_and_stale_edit(repo: Path, tmp_path: Path) -> None:
    edit = {
        "changes": {
            (repo / "pkg/broken.py").as_uri(): [
                {
                    "range": {
                        "start": {"line": 4, "character": 25},
                        "end": {"line": 4, "character": 40},
                    },
                    "newText": "",
                }
            ]
        }
    }
    path = tmp_path / "edit.json"
    path.write_text(json.dumps(edit))
    preview = run_cli("apply", str(path), "-w", str(repo), "--json")
    bundle = check_bundle(json.loads(preview.out))
    assert [d["message"] for d in bundle["facts"]["fixed"]] == ['"missing_name" is not defined']
    assert "missing_name" in (repo / "pkg/broken.py").read_text()
    assert run_cli("apply", str(path), "-w", str(repo), "--apply").code == 0
    assert (repo / "pkg/broken.py").read_text().splitlines()[4] == "    return area(1.0, 2.0)"
    before = tree(repo, (".git", ".codeprm"))
    assert_clean_error(run_cli("apply", str(path), "-w", str(repo), "--apply", "--allow-dirty"), 74)
    assert tree(repo, (".git", ".codeprm")) == before
