"""Diagnostic identity that ignores position, and the introduced/fixed delta of a step.

Two diagnostics are the same before and after an edit when (file, source, code,
severity, message, enclosing symbol) match: a diagnostic that merely moved with its
code is neither new nor fixed. Counts are multisets, so two identical diagnostics in one
function count twice. Hints never reach here (the lsp layer drops them).
"""

from __future__ import annotations

import keyword
import re
import threading
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
        sa, sb = _segment_tokens(old), _segment_tokens(new)
        if sa is None or sb is None:
            continue
        a, b = _flat(sa), _flat(sb)
        # the common ends first: the matcher is quadratic in what remains. Equal leading
        # (trailing) segments are equal runs of tokens: they are skipped whole, then the
        # comparison goes on token by token, so the ends are exactly the token-wise ones.
        head = 0
        for x, y in zip(sa, sb, strict=False):
            if x is not y and x != y:
                break
            head += len(x)
        while head < min(len(a), len(b)) and a[head] == b[head]:
            head += 1
        bound = min(len(a), len(b)) - head
        tail = 0
        for x, y in zip(reversed(sa), reversed(sb), strict=False):
            if (x is not y and x != y) or tail + len(x) > bound:
                break
            tail += len(x)
        while tail < bound and a[-1 - tail] == b[-1 - tail]:
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


Token = tuple[int, str]


def _tokens(text: str) -> list[Token] | None:
    """The (type, string) tokens of text (no NL, COMMENT or ENCODING); None if it does not
    tokenize."""
    import io

    try:
        return [
            (t.type, t.string)
            for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in _IGNORED
        ]
    except (tokenize.TokenError, SyntaxError, ValueError):
        return None


def _flat(segments: list[tuple[Token, ...]]) -> list[Token]:
    out: list[Token] = []
    for segment in segments:
        out.extend(segment)
    return out


#: a line that starts with one of these cannot start a new top-level statement
_NOT_TOP = frozenset(" \t\f#\r\n")
#: token runs of recently seen top-level segments, by their text (see ``_segment_tokens``)
_SEGMENTS: dict[str, tuple[Token, ...]] = {}
_SEGMENTS_CAPACITY = 4096
_SEGMENTS_LOCK = threading.Lock()
#: segments joined in a row before the whole text is tokenized instead (an unclosed bracket)
_MAX_JOINS = 8


def _segment_tokens(text: str) -> list[tuple[Token, ...]] | None:
    """``_tokens(text)`` in runs, one per top-level segment; the same tokens, mostly memoised.

    A segment starts at a line whose first character starts a statement at column 0. A
    segment that tokenizes on its own ends where the tokenizer's state is clean (no open
    bracket, string or continuation: those end in TokenError at its end), and the next
    one's first line then pops every indentation level, so the whole text's tokens are
    each segment's own in turn: its closing DEDENTs are the ones the next line emits, and
    only the last ENDMARKER is kept. A segment that does not end clean (a docstring whose
    lines start at column 0) is joined with the next; any other failure is answered by
    tokenizing the whole text, as ``_tokens`` does. An edit re-tokenizes only the
    segments it touched.
    """
    import io

    lines = io.StringIO(text).readlines()
    cuts = [i for i in range(1, len(lines)) if lines[i][0] not in _NOT_TOP]
    out: list[tuple[Token, ...]] = []
    start = joined = 0
    for end in [*cuts, len(lines)]:
        chunk = "".join(lines[start:end])
        tokens = _SEGMENTS.get(chunk)
        if tokens is None:
            try:
                tokens = tuple(
                    (t.type, t.string)
                    for t in tokenize.generate_tokens(io.StringIO(chunk).readline)
                    if t.type not in _IGNORED and t.type != tokenize.ENDMARKER
                )
            except tokenize.TokenError:
                joined += 1
                if end < len(lines) and joined <= _MAX_JOINS:
                    continue  # not clean at its end: one segment with the next
                tokens = None
            except (SyntaxError, ValueError):
                tokens = None
            if tokens is None:
                whole = _tokens(text)
                return None if whole is None else [tuple(whole)]
            with _SEGMENTS_LOCK:
                if len(_SEGMENTS) >= _SEGMENTS_CAPACITY:
                    _SEGMENTS.pop(next(iter(_SEGMENTS)), None)
                _SEGMENTS[chunk] = tokens
        out.append(tokens)
        start, joined = end, 0
    out.append(((tokenize.ENDMARKER, ""),))
    return out


_IGNORED = frozenset({tokenize.NL, tokenize.COMMENT, tokenize.ENCODING})
