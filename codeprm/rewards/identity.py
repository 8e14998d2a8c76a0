"""Diagnostic identity that ignores position, and the introduced/fixed delta of a step.

Two diagnostics are the same before and after an edit when (file, source, code,
severity, message, enclosing symbol) match: a diagnostic that merely moved with its
code is neither new nor fixed. Counts are multisets, so two identical diagnostics in one
function count twice. Hints never reach here (the lsp layer drops them).
"""

from __future__ import annotations

import keyword
import re
import tokenize
from collections import Counter
from collections.abc import Iterable, Mapping
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
        return {
            "introduced": [d.to_json() for d in self.introduced],
            "fixed": [d.to_json() for d in self.fixed],
        }


def _order(items: Iterable[Located]) -> tuple[Located, ...]:
    return tuple(sorted(items, key=lambda x: (x.key, x.diagnostic.sort_key())))


def renamed_key(
    item: Located, renames: Mapping[str, str], moved: Mapping[str, str] | None = None
) -> Key:
    """The identity key of a diagnostic from before a step, with renamed identifiers renamed.

    Every whole-word occurrence of a renamed identifier in the message, and every part
    of the enclosing qualified name that is one, takes the new name: a diagnostic whose
    message differs only by the renamed identifier is the same diagnostic.
    """
    path, source, code, severity, message, enclosing = item.key
    path = (moved or {}).get(path, path)
    if not renames:
        return (path, source, code, severity, message, enclosing)
    pattern = re.compile(
        r"(?<![\w])("
        + "|".join(re.escape(k) for k in sorted(renames, key=len, reverse=True))
        + r")(?![\w])"
    )
    message = pattern.sub(lambda m: renames[m.group(1)], message)
    enclosing = (
        ".".join(renames.get(part, part) for part in enclosing.split("."))
        if enclosing
        else enclosing
    )
    return (path, source, code, severity, message, enclosing)


def delta(
    before: Iterable[Located],
    after: Iterable[Located],
    renames: Mapping[str, str] | None = None,
    moved: Mapping[str, str] | None = None,
) -> Delta:
    """Multiset difference by identity key; each side keeps its own positions.

    ``renames`` (old identifier -> new) are the identifiers the step renamed and
    ``moved`` (old path -> new) the files it renamed: a diagnostic from before is
    compared under its renamed key (``renamed_key``).
    """
    before, after = list(before), list(after)
    renames = dict(renames or {})
    keys = {id(x): renamed_key(x, renames, moved) for x in before} | {id(x): x.key for x in after}
    left = Counter(keys[id(x)] for x in before) - Counter(keys[id(x)] for x in after)
    right = Counter(keys[id(x)] for x in after) - Counter(keys[id(x)] for x in before)

    def take(items: list[Located], budget: Counter[Key]) -> list[Located]:
        out = []
        # the last occurrences are the ones that changed: a stable, total choice
        for item in sorted(
            items, key=lambda x: (keys[id(x)], x.diagnostic.sort_key()), reverse=True
        ):
            if budget[keys[id(item)]] > 0:
                budget[keys[id(item)]] -= 1
                out.append(item)
        return out

    return Delta(introduced=_order(take(after, right)), fixed=_order(take(before, left)))


def counts(items: Iterable[Located]) -> dict[str, int]:
    c = Counter(x.diagnostic.severity for x in items)
    return {"error": c["error"], "warning": c["warning"], "information": c["information"]}


def renamed_identifiers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Identifiers a step renamed, from the (before, after) texts of its Python files.

    The token streams of each pair are aligned; a changed run of tokens counts only when
    it has the same length and differs only in NAME tokens (``f`` -> ``ff``). An
    identifier renamed to two different names, or to one name in one place and left in
    another changed run, is no rename. Texts that do not tokenize give nothing.
    """
    import difflib

    found: dict[str, str | None] = {}
    for old, new in pairs:
        a, b = _tokens(old), _tokens(new)
        if a is None or b is None:
            continue
        head = 0  # the common ends first: the matcher is quadratic in what remains
        while head < min(len(a), len(b)) and a[head] == b[head]:
            head += 1
        tail = 0
        while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
            tail += 1
        a, b = a[head : len(a) - tail], b[head : len(b) - tail]
        matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "replace" or i2 - i1 != j2 - j1:
                continue
            pairs_ = list(zip(a[i1:i2], b[j1:j2], strict=True))
            if any(x != y and not (x[0] == y[0] == tokenize.NAME) for x, y in pairs_):
                continue
            for (_, old_name), (_, new_name) in pairs_:
                if (
                    old_name == new_name
                    or keyword.iskeyword(old_name)
                    or keyword.iskeyword(new_name)
                ):
                    continue
                found[old_name] = new_name if found.get(old_name, new_name) == new_name else None
    return {k: v for k, v in found.items() if v is not None}


def _tokens(text: str) -> list[tuple[int, str]] | None:
    import io

    try:
        return [
            (t.type, t.string)
            for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in _IGNORED
        ]
    except (tokenize.TokenError, SyntaxError, ValueError):
        return None


_IGNORED = frozenset({tokenize.NL, tokenize.COMMENT, tokenize.ENCODING})
