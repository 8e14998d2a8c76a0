"""The workspace jail: every escape is exit 71 and nothing is written, inside or outside."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from ws_helpers import check_error, tree

from codeprm.workspace import ApplyOptions, apply_change, apply_diff, apply_workspace_edit, jail
from codeprm.workspace.edits import FileEdit, WorkspaceChange
from codeprm.workspace.globs import matches
from codeprm.workspace.jail import Jail, check_case_collisions, probe_case_sensitive


def create(path: str, text: str = "pwned\n") -> str:
    return f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+{text}"


def modify_secret(path: str) -> str:
    return f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-do not touch\n+pwned\n"


def escapes(repo: Path, outside: Path) -> dict[str, tuple[Callable[[], object], str]]:
    """name -> (attempt, expected reason). Every attempt must write nothing anywhere."""
    (repo / "link").symlink_to(outside, target_is_directory=True)
    (repo / "secret_link.txt").symlink_to(outside / "secret.txt")
    rel_out = os.path.relpath(outside / "secret.txt", repo)
    return {
        "dotdot-diff": (lambda: apply_diff(repo, modify_secret(rel_out)), "parent"),
        "dotdot-create": (lambda: apply_diff(repo, create("../outside/new.txt")), "parent"),
        "normalises-outside": (lambda: apply_diff(repo, create("src/../../outside/x.txt")), "parent"),
        "absolute": (lambda: apply_change(repo, WorkspaceChange.of([FileEdit(str(outside / "abs.txt"), None, "x")])), "absolute"),
        "absolute-in-diff": (lambda: apply_diff(repo, f"--- /dev/null\n+++ {outside}/new.txt\n@@ -0,0 +1 @@\n+x\n"), "absolute"),
        "symlink-dir-out": (lambda: apply_diff(repo, modify_secret("link/secret.txt")), "outside"),
        "symlink-dir-create": (lambda: apply_diff(repo, create("link/new.txt")), "outside"),
        "symlink-file": (lambda: apply_diff(repo, modify_secret("secret_link.txt")), "symlink"),
        "git-dir": (lambda: apply_diff(repo, create(".git/hooks/post-commit")), "git-dir"),
        "state-dir": (lambda: apply_diff(repo, create(".codeprm/journal/x")), "state-dir"),
        "backslash": (lambda: apply_diff(repo, create("..\\\\outside\\\\x.txt")), "backslash"),
        "uri-outside": (
            lambda: apply_workspace_edit(repo, {"documentChanges": [{"kind": "create", "uri": (outside / "n.txt").as_uri()}]}),
            "absolute",
        ),
        "uri-dotdot": (
            lambda: apply_workspace_edit(repo, {"documentChanges": [{"kind": "create", "uri": (repo.as_uri() + "/../outside/n.txt")}]}),
            "parent",
        ),
        "one-bad-file-of-two": (
            lambda: apply_change(repo, WorkspaceChange.of([FileEdit("README.md", "# demo\n", "ok\n"), FileEdit("link/n.txt", None, "x")])),
            "outside",
        ),
    }  # fmt: skip


NAMES = [
    "dotdot-diff", "dotdot-create", "normalises-outside", "absolute", "absolute-in-diff", "symlink-dir-out",
    "symlink-dir-create", "symlink-file", "git-dir", "state-dir", "backslash", "uri-outside", "uri-dotdot",
    "one-bad-file-of-two",
]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_escape_is_refused_and_nothing_is_written(repo: Path, outside: Path, name: str) -> None:
    attempt, reason = escapes(repo, outside)[name]
    before, before_out = tree(repo, include_git=True), tree(outside)
    check_error(attempt, 71, reason=reason)
    assert tree(repo, include_git=True) == before
    assert tree(outside) == before_out


def test_symlinked_directory_inside_the_workspace_is_followed(repo: Path) -> None:
    (repo / "alias").symlink_to(repo / "src", target_is_directory=True)
    apply_diff(
        repo,
        "--- a/alias/util.py\n+++ b/alias/util.py\n@@ -1 +1 @@\n-X = 1\n+X = 9\n",
        options=ApplyOptions(),
    )
    assert (repo / "src/util.py").read_text() == "X = 9\nY = 2\n"
    assert (repo / "alias").is_symlink()


def test_two_names_for_one_file_are_refused(repo: Path) -> None:
    (repo / "alias").symlink_to(repo / "src", target_is_directory=True)
    change = WorkspaceChange.of(
        [
            FileEdit("src/util.py", "X = 1\nY = 2\n", "a"),
            FileEdit("alias/util.py", "X = 1\nY = 2\n", "b"),
        ]
    )
    check_error(lambda: apply_change(repo, change), 71, reason="alias")


@pytest.mark.parametrize(
    ("allow", "deny", "path", "ok"),
    [
        ((), ("*.lock",), "deep/dir/poetry.lock", False),
        ((), ("docs/",), "docs/guide.txt", False),
        ((), ("/README.md",), "sub/README.md", True),
        (("src/**",), (), "src/app.py", True),
        (("src/**",), (), "README.md", False),
        (("src/**/*.py",), ("src/gen/**",), "src/gen/x.py", False),
        (("src/**/*.py",), ("src/gen/**",), "src/a/b/c.py", True),
        (("src/**/*.py",), (), "src/c.py", True),
    ],
)
def test_globs(
    repo: Path, allow: tuple[str, ...], deny: tuple[str, ...], path: str, ok: bool
) -> None:
    j = Jail.at(repo, allow, deny)
    if ok:
        assert j.normalise(path) == path
    else:
        check_error(lambda: j.normalise(path), 71)


def test_glob_refusal_writes_nothing(repo: Path) -> None:
    before = tree(repo, include_git=True)
    diff = "--- a/docs/guide.txt\n+++ b/docs/guide.txt\n@@ -1 +1 @@\n-guide\n+x\n"
    check_error(
        lambda: apply_diff(repo, diff, options=ApplyOptions(deny=("docs/**",))), 71, reason="denied"
    )
    check_error(
        lambda: apply_diff(repo, diff, options=ApplyOptions(allow=("src/**",))),
        71,
        reason="not-allowed",
    )
    assert tree(repo, include_git=True) == before


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [("*.py", "a/b.py", True), ("a/*.py", "a/b/c.py", False), ("a/**/c.py", "a/c.py", True), ("[!x]y", "zy", True),
     ("[!x]y", "xy", False), ("?.md", "a/b.md", True), ("**", "any/thing", True)],
)  # fmt: skip
def test_glob_syntax(pattern: str, path: str, hit: bool) -> None:
    assert matches(path, pattern) is hit


# -- case-only renames -------------------------------------------------------------------------


def test_probe_finds_this_file_system_case_sensitive(tmp_path: Path) -> None:
    before = sorted(os.listdir(tmp_path))
    assert (
        probe_case_sensitive(tmp_path) is True
    )  # ext4/tmpfs here; no case-insensitive FS was available
    assert sorted(os.listdir(tmp_path)) == before  # the probe cleans up


def test_case_collision_detection_logic(tmp_path: Path) -> None:
    targets = {
        "Foo.py": tmp_path / "Foo.py",
        "foo.py": tmp_path / "foo.py",
        "bar.py": tmp_path / "bar.py",
    }
    check_case_collisions(targets, case_sensitive=lambda d: True)
    check_error(
        lambda: check_case_collisions(targets, case_sensitive=lambda d: False),
        71,
        reason="case-only-rename",
    )
    probed: list[Path] = []
    check_case_collisions(
        {"a": tmp_path / "a", "b": tmp_path / "b"}, case_sensitive=lambda d: bool(probed.append(d))
    )
    assert probed == []  # no pair differing only in case: no probe, nothing written


def test_case_only_rename_refused_on_case_insensitive_fs(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Simulated: the probe is the only part that cannot be exercised without such a file system.
    monkeypatch.setattr(jail, "probe_case_sensitive", lambda d: False)
    before = tree(repo, include_git=True)
    rename = "diff --git a/README.md b/readme.md\nsimilarity index 100%\nrename from README.md\nrename to readme.md\n"
    check_error(lambda: apply_diff(repo, rename), 71, reason="case-only-rename")
    ws = {
        "documentChanges": [
            {
                "kind": "rename",
                "oldUri": (repo / "README.md").as_uri(),
                "newUri": (repo / "readme.md").as_uri(),
            }
        ]
    }
    check_error(lambda: apply_workspace_edit(repo, ws), 71, reason="case-only-rename")
    assert tree(repo, include_git=True) == before


def test_case_only_rename_allowed_on_case_sensitive_fs(repo: Path) -> None:
    rename = "diff --git a/README.md b/readme.md\nsimilarity index 100%\nrename from README.md\nrename to readme.md\n"
    apply_diff(repo, rename)
    assert sorted(os.listdir(repo)) == [".codeprm", ".git", "docs", "readme.md", "src"]
