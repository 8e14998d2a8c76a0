"""Fixtures for codeprm.workspace tests: a small committed git repository and an outside dir."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ws_helpers import make_repo

BASE_FILES = {
    "README.md": "# demo\n",
    "src/app.py": "def main():\n    return 1\n",
    "src/util.py": "X = 1\nY = 2\n",
    "docs/guide.txt": "guide\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A committed git repository with BASE_FILES; nothing outside it is written."""
    return make_repo(tmp_path / "repo", BASE_FILES)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the repository, standing for everything outside the jail."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret.txt").write_text("do not touch\n")
    return path
