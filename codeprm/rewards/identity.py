"""Diagnostic identity that ignores position, and the introduced/fixed delta of a step.

Two diagnostics are the same before and after an edit when (file, source, code,
severity, message, enclosing symbol) match: a diagnostic that merely moved with its
code is neither new nor fixed. Counts are multisets, so two identical diagnostics in one
function count twice. Hints never reach here (the lsp layer drops them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from codeprm.types import Diagnostic

Key = tuple[str, str, str, str, str, str]


@dataclass(frozen=True)
class Located:
    """A diagnostic with the qualified name of the definition that encloses it."""

    diagnostic: Diagnostic
    enclosing: str  # "" at module level

    @property
    def key(self) -> Key:
        d = self.diagnostic
        return (d.path, d.source or "", d.code or "", d.severity, d.message, self.enclosing)

    def to_json(self) -> dict[str, Any]:
        return {**self.diagnostic.to_json(), "enclosing": self.enclosing}


@dataclass(frozen=True)
class Delta:
    introduced: tuple[Located, ...]
    fixed: tuple[Located, ...]

    def to_json(self) -> dict[str, Any]:
        return {"introduced": [d.to_json() for d in self.introduced], "fixed": [d.to_json() for d in self.fixed]}


def _order(items: Iterable[Located]) -> tuple[Located, ...]:
    return tuple(sorted(items, key=lambda x: (x.key, x.diagnostic.sort_key())))


def delta(before: Iterable[Located], after: Iterable[Located]) -> Delta:
    """Multiset difference by identity key; each side keeps its own positions."""
    before, after = list(before), list(after)
    left = Counter(x.key for x in before) - Counter(x.key for x in after)
    right = Counter(x.key for x in after) - Counter(x.key for x in before)

    def take(items: list[Located], budget: Counter[Key]) -> list[Located]:
        out = []
        # the last occurrences are the ones that changed: a stable, total choice
        for item in sorted(items, key=lambda x: (x.key, x.diagnostic.sort_key()), reverse=True):
            if budget[item.key] > 0:
                budget[item.key] -= 1
                out.append(item)
        return out

    return Delta(introduced=_order(take(after, right)), fixed=_order(take(before, left)))


def counts(items: Iterable[Located]) -> dict[str, int]:
    c = Counter(x.diagnostic.severity for x in items)
    return {"error": c["error"], "warning": c["warning"], "information": c["information"]}
