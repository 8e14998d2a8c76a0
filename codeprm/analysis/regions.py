"""The edited region of a file: what the learned PRM reads for one step.

The PRM scores the smallest definition (function or class) that holds every changed
line, before and after the edit, with the lines above it as context. Everything outside
the region is the same in both texts, so the region's after-text is found by keeping
the same unchanged prefix and suffix. A change outside any definition (imports,
module-level code) uses the changed lines with a few lines around them. Pure.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from codeprm.analysis import structure
from codeprm.selectors.position_encoding import LineTable

CONTEXT_LINES = 30
MARGIN_LINES = 3


@dataclass(frozen=True)
class Region:
    before: str
    after: str
    context: str
    first_line: int  # 0-based line of the region in the before text


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _definition_lines(text: str, path: str | None = None) -> list[tuple[int, int]]:
    """(first line, end line exclusive) of every definition in text."""
    table = LineTable(text)
    out = []
    for d in structure.definitions(text, path):
        first = table.byte_to_position(d.start, "utf-16").line
        last = table.byte_to_position(max(d.start, d.end - 1), "utf-16").line
        out.append((first, last + 1))
    return out


def edited_region(before: str, after: str, path: str | None = None) -> Region | None:
    """The region a step changed, or None when the texts are equal (definitions found with
    ``path``'s grammar: Python without one, TypeScript / JavaScript by suffix)."""
    a, b = _lines(before), _lines(after)
    changed = [
        op
        for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
        if op[0] != "equal"
    ]
    if not changed:
        return None
    lo, hi = changed[0][1], max(changed[-1][2], changed[0][1] + 1)
    spans = [(s, e) for s, e in _definition_lines(before, path) if s <= lo and hi <= e]
    if spans:
        start, end = min(spans, key=lambda span: span[1] - span[0])
    else:
        start, end = max(0, lo - MARGIN_LINES), min(len(a), hi + MARGIN_LINES)
    suffix = len(a) - end
    # the region keeps the same unchanged prefix and suffix in both texts
    prefix_ok = a[:start] == b[:start]
    suffix_ok = suffix == 0 or a[end:] == b[len(b) - suffix :]
    if not (prefix_ok and suffix_ok and len(b) - suffix >= start):
        start, end, suffix = 0, len(a), 0
    return Region(
        before="".join(a[start:end]),
        after="".join(b[start : len(b) - suffix]),
        context="".join(a[max(0, start - CONTEXT_LINES) : start]),
        first_line=start,
    )
