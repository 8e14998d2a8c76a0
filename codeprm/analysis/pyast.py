"""Python syntax trees shared by the step's readers, parsed once per text.

A warm step reads the same two texts (before, after) in several places (the execution
facts' edited definitions, the guard's weakened tests): ``parse`` answers them from one
parse per text. The trees are shared, so callers only read them (``copy.copy`` a node
before changing it).
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache

#: where the parser ends a line (compile() reads "\r\n" and a lone "\r" as "\n")
_NEWLINE = re.compile(r"(\r\n|\r|\n)")


@lru_cache(maxsize=16)
def parse(text: str) -> ast.Module | None:
    """``ast.parse(text)``, or None when it does not parse; the same tree for the same text."""
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def source_lines(text: str) -> list[str]:
    """The lines of text as the parser numbers them (line n is ``[n - 1]``), ends kept."""
    parts = _NEWLINE.split(text)
    return [
        parts[i] + (parts[i + 1] if i + 1 < len(parts) else "") for i in range(0, len(parts), 2)
    ]


def statement_lines(lines: list[str], node: ast.stmt) -> str:
    """The whole lines a statement spans, its decorators included.

    Two statements with the same lines have the same syntax tree up to positions: the
    lines hold all of the statement's text (a compound statement starts its line; what
    follows its end on the last line is a comment, or belongs to it).
    """
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "".join(lines[first - 1 : node.end_lineno or node.lineno])
