"""The one definition of a workspace's Python files: which directories and names are walked.

``analysis.files.iter_python_files`` (diagnostics, digests) and ``selectors.WorkspaceIndex``
(selectors) both walk by these rules, so the two never disagree about what a workspace
holds. Standard library only.
"""

from __future__ import annotations

#: Directory names never walked: environments, VCS data, caches, build output, our own state.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".codeprm",
        ".tox",
        ".nox",
        "build",
        "dist",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
    }
)
SUFFIXES = (".py", ".pyi")


def walks_dir(name: str) -> bool:
    """Whether a directory of this name is walked (hidden ones and SKIP_DIRS are not)."""
    return name not in SKIP_DIRS and not name.startswith(".")


def is_source_name(name: str) -> bool:
    """Whether a file of this name is a Python source (hidden files are not)."""
    return name.endswith(SUFFIXES) and not name.startswith(".")


def is_source_path(path: str) -> bool:
    """Whether a workspace-relative POSIX path is one the walk yields."""
    *dirs, name = path.split("/")
    return is_source_name(name) and all(walks_dir(d) for d in dirs)
