"""Match workspace-relative POSIX paths against allow/deny globs; pure.

Syntax: ``*`` matches within one path segment, ``?`` one character of a segment,
``[abc]``/``[!abc]`` a character class, ``**`` any number of whole segments
(``src/**/test_*.py``, ``docs/**``). A pattern without ``/`` matches the last segment
at any depth (``*.lock``), like .gitignore; a leading ``/`` anchors it at the root; a
trailing ``/`` matches everything under that directory.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable


@functools.lru_cache(maxsize=512)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """The regular expression for ``pattern`` (see the module docstring)."""
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    body = pattern.strip("/") if pattern != "/" else ""
    if pattern.endswith("/") and body:
        body += "/**"
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if body.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[" and (close := _class_end(body, i)) is not None:
            inner = body[i + 1 : close]
            negate = inner.startswith("!")
            inner = inner[1:] if negate else inner
            out.append("[" + ("^/" if negate else "") + inner.replace("\\", "\\\\") + "]")
            i = close + 1
        else:
            out.append(re.escape(ch))
            i += 1
    prefix = "" if anchored else "(?:[^/]*/)*"
    return re.compile(prefix + "".join(out), re.DOTALL)


def _class_end(body: str, start: int) -> int | None:
    j = start + 1
    if j < len(body) and body[j] == "!":
        j += 1
    if j < len(body) and body[j] == "]":
        j += 1
    close = body.find("]", j)
    return None if close < 0 else close


def matches(path: str, pattern: str) -> bool:
    """Whether the workspace-relative POSIX ``path`` matches ``pattern``."""
    return compile_glob(pattern).fullmatch(path) is not None


def matches_any(path: str, patterns: Iterable[str]) -> str | None:
    """The first pattern ``path`` matches, or None."""
    return next((p for p in patterns if matches(path, p)), None)
