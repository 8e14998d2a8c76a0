"""Python module names of workspace files, from their paths alone.

Rules, in order: only ``.py`` and ``.pyi`` files have module names; a path under a source
root (default ``src/``, the src layout) is taken relative to that root, any other path
relative to the workspace root; ``pkg/__init__.py`` is ``pkg``; every directory is a
package segment whether or not it has an ``__init__.py``, so namespace packages need no
special case. A path with a segment that contains ``.`` (``a.b/c.py``) or that is a
top-level ``__init__.py`` has no module name. Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Sequence

PYTHON_SUFFIXES = (".py", ".pyi")
DEFAULT_SOURCE_ROOTS: tuple[str, ...] = ("src",)


def is_python_path(path: str) -> bool:
    return path.endswith(PYTHON_SUFFIXES)


def module_name(path: str, source_roots: Sequence[str] = DEFAULT_SOURCE_ROOTS) -> str | None:
    """The dotted module name of the workspace-relative POSIX ``path``, or None."""
    if not is_python_path(path):
        return None
    rel = path
    for root in sorted(source_roots, key=len, reverse=True):
        prefix = root.strip("/") + "/"
        if path.startswith(prefix):
            rel = path[len(prefix) :]
            break
    stem = rel[: -len(".pyi")] if rel.endswith(".pyi") else rel[: -len(".py")]
    parts = stem.split("/")
    if parts[-1] == "__init__":
        parts.pop()
    if not parts or any(not p or "." in p for p in parts):
        return None
    return ".".join(parts)


def module_paths(module: str, source_roots: Sequence[str] = DEFAULT_SOURCE_ROOTS) -> list[str]:
    """Every path whose module name would be ``module`` (the inverse of ``module_name``)."""
    rel = module.replace(".", "/")
    out: list[str] = []
    for root in ("", *source_roots):
        prefix = root.strip("/") + "/" if root.strip("/") else ""
        for suffix in (".py", ".pyi", "/__init__.py", "/__init__.pyi"):
            path = prefix + rel + suffix
            if path not in out and module_name(path, source_roots) == module:
                out.append(path)
    return out
