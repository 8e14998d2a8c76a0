"""Helpers for the workspace tests: real git repositories, whole-tree fingerprints, error checks."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import git
import pytest

from codeprm.errors import CodeprmError

Tree = dict[str, tuple[bytes, int] | str | None]


def make_repo(root: Path, files: Mapping[str, bytes | str], *, commit: bool = True) -> Path:
    """A git repository at ``root`` holding ``files`` (str is written as UTF-8), committed."""
    root.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(root)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "codeprm tests")
        cfg.set_value("user", "email", "tests@example.invalid")
        cfg.set_value("core", "autocrlf", "false")
    write_files(root, files)
    if commit:
        repo.git.add("-A")
        repo.git.commit("-qm", "initial", "--allow-empty")
    repo.close()
    return root


def write_files(root: Path, files: Mapping[str, bytes | str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def tree(root: Path, *, include_git: bool = False) -> Tree:
    """Every entry under ``root``: files as (bytes, mode), symlinks as their target, dirs as None.

    ``.git`` is left out unless asked for (git itself refreshes its index on status).
    """
    out: Tree = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        if not include_git:
            dirnames[:] = [d for d in dirnames if not (base == root and d == ".git")]
        for name in [*dirnames, *filenames]:
            full = base / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                out[rel] = "-> " + os.readlink(full)
            elif full.is_dir():
                out[rel + "/"] = None
            else:
                out[rel] = (full.read_bytes(), full.stat().st_mode & 0o7777)
    return out


def check_error(
    fn: Callable[[], Any], exit_code: int, *, reason: str | None = None, contains: str | None = None
) -> CodeprmError:
    """Run ``fn``; it must raise a CodeprmError with ``exit_code`` (and details reason / message text)."""
    with pytest.raises(CodeprmError) as info:
        fn()
    err = info.value
    assert err.exit_code == exit_code, f"{type(err).__name__} ({err.exit_code}): {err}"
    if reason is not None:
        assert err.details.get("reason") == reason, err.details
    if contains is not None:
        assert contains in str(err), str(err)
    return err
