"""Word tokens of code text, their Jaccard similarity, and the kind of a leading token.

Used by relocation scoring. A token is a Python identifier or keyword (Unicode letters
included); numbers, strings and punctuation are not tokens. Pure.
"""

from __future__ import annotations

import keyword
import re

_WORD = re.compile(r"[^\W\d]\w*")
_STRING_START = re.compile(r"[rRbBuUfFtT]{0,2}[\"']")
_NUMBER_START = re.compile(r"\.?\d")


def token_set(text: str) -> frozenset[str]:
    """The set of identifier and keyword tokens of ``text``."""
    return frozenset(_WORD.findall(text))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a & b| / |a | b|; two empty sets are identical (1.0)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def leading_kind(text: str) -> str:
    """The syntactic kind of the first token of ``text``, as tree-sitter would name the leaf.

    Keywords are themselves (``def``, ``class``, ``return`` ...); other words are
    ``identifier``; then ``string``, ``number``, ``comment``, or the punctuation character.
    """
    stripped = text.lstrip()
    if not stripped:
        return "empty"
    if _STRING_START.match(stripped):
        return "string"
    m = _WORD.match(stripped)
    if m:
        word = m.group()
        return word if keyword.iskeyword(word) or keyword.issoftkeyword(word) else "identifier"
    if _NUMBER_START.match(stripped):
        return "number"
    if stripped[0] == "#":
        return "comment"
    return stripped[0]
