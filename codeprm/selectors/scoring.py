"""Scoring of relocation candidates: four features, one recorded convex combination, one decision.

A ``Reference`` is what is known of the element a selector named (from the selector and,
when its docVersion's text is known, from that old text); a ``Candidate`` is a place in
the current workspace. Features, each in 0..1:

* ``ast_kind``  -- 1 if the candidate's kind (class/function, or an anchor's leading token
  kind) equals the reference's, 0 if not, 0.5 when the reference kind is unknown;
* ``module``    -- 1 for the same module (same path when there is no module), 0.5 when only
  the last dotted segment (file name) agrees, else 0;
* ``jaccard``   -- Jaccard similarity of the identifier/keyword token sets;
* ``proximity`` -- 1 / (1 + |line delta| / 10) from the expected line in the same file,
  0 in another file, 0.5 when no expected line is known.

``score = 0.5 ast_kind + 0.2 module + 0.2 jaccard + 0.1 proximity`` (``WEIGHTS``, recorded
in every result). Candidates are ranked by score, then by the total order (path, range).
``THRESHOLD`` is 0.8, not lower, because kind and module alone already give 0.7: a
candidate must share tokens with the reference or sit where it is expected to be
accepted. A top score below the threshold, or within ``TIE_EPSILON`` of the runner-up,
raises ``AmbiguousError`` carrying the top ``TOP_K`` candidates; no candidate raises
``NotFoundError``. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from codeprm.errors import AmbiguousError, NotFoundError
from codeprm.selectors.tokens import jaccard
from codeprm.types import Range

WEIGHTS: dict[str, float] = {"ast_kind": 0.5, "module": 0.2, "jaccard": 0.2, "proximity": 0.1}
THRESHOLD = 0.8
TIE_EPSILON = 1e-9
TOP_K = 5
PROXIMITY_SCALE = 10.0


@dataclass(frozen=True, slots=True)
class Reference:
    """What is known about the element a selector named."""

    kind: str | None
    module: str | None
    path: str | None
    tokens: frozenset[str]
    line: int | None = None  # expected 0-based line in the current text of ``path``


@dataclass(frozen=True, slots=True)
class Candidate:
    """A place in the current workspace that may be the element."""

    path: str
    module: str | None
    kind: str | None
    tokens: frozenset[str]
    line: int
    range: Range
    symbol_id: str | None = None
    label: str = ""


@dataclass(frozen=True, slots=True)
class ScoredCandidate:
    """A candidate with its features and score (``range`` is 0-based utf-16)."""

    path: str
    range: Range
    features: dict[str, float] = field(hash=False)
    score: float
    symbol_id: str | None = None
    label: str = ""

    def sort_key(self) -> tuple[Any, ...]:
        return (-self.score, self.path, *self.range.sort_key(), self.label)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "range": self.range.to_json(),
            "features": dict(sorted(self.features.items())),
            "score": self.score,
            "symbolId": self.symbol_id,
            "label": self.label,
        }


def _last_segment(module: str) -> str:
    return module.rpartition(".")[2]


def _basename(path: str) -> str:
    return path.rpartition("/")[2]


def features(ref: Reference, cand: Candidate) -> dict[str, float]:
    # an unknown kind is neither evidence for nor against: 0.5
    unknown = ref.kind is None or cand.kind is None
    kind = 0.5 if unknown else float(ref.kind == cand.kind)
    if ref.module is not None and cand.module is not None:
        if ref.module == cand.module:
            module = 1.0
        else:
            module = 0.5 if _last_segment(ref.module) == _last_segment(cand.module) else 0.0
    elif ref.path is not None:
        module = (
            1.0
            if ref.path == cand.path
            else (0.5 if _basename(ref.path) == _basename(cand.path) else 0.0)
        )
    else:
        module = 0.0
    if ref.line is None:
        proximity = 0.5
    elif ref.path != cand.path:
        proximity = 0.0
    else:
        proximity = 1.0 / (1.0 + abs(cand.line - ref.line) / PROXIMITY_SCALE)
    return {
        "ast_kind": round(kind, 6),
        "module": round(module, 6),
        "jaccard": round(jaccard(ref.tokens, cand.tokens), 6),
        "proximity": round(proximity, 6),
    }


def combine(feats: dict[str, float]) -> float:
    return round(sum(WEIGHTS[k] * feats[k] for k in WEIGHTS), 6)


def rank(ref: Reference, candidates: Iterable[Candidate]) -> list[ScoredCandidate]:
    """Score every candidate and sort best first, ties by (path, range)."""
    out = []
    for cand in candidates:
        feats = features(ref, cand)
        out.append(
            ScoredCandidate(
                cand.path, cand.range, feats, combine(feats), cand.symbol_id, cand.label
            )
        )
    out.sort(key=ScoredCandidate.sort_key)
    return out


def exact(path: str, rng: Range, symbol_id: str | None = None, label: str = "") -> ScoredCandidate:
    """The single candidate of an exact, unique match (every feature 1, score 1)."""
    return ScoredCandidate(path, rng, dict.fromkeys(WEIGHTS, 1.0), 1.0, symbol_id, label)


def candidates_json(ranked: list[ScoredCandidate]) -> list[dict[str, Any]]:
    return [c.to_json() for c in ranked[:TOP_K]]


def decide(ranked: list[ScoredCandidate], *, what: str) -> ScoredCandidate:
    """The confident winner of ``ranked``, else ``AmbiguousError``/``NotFoundError``."""
    details: dict[str, Any] = {
        "selector": what,
        "candidates": candidates_json(ranked),
        "weights": dict(WEIGHTS),
        "threshold": THRESHOLD,
    }
    if not ranked:
        raise NotFoundError(
            f"{what}: no such element and no candidate to relocate it to", details=details
        )
    top = ranked[0]
    if len(ranked) > 1 and top.score - ranked[1].score < TIE_EPSILON:
        raise AmbiguousError(
            f"{what}: {sum(1 for c in ranked if top.score - c.score < TIE_EPSILON)} candidates "
            f"tie at score {top.score:.3f} (first: {top.label or top.path})",
            details=details,
        )
    if top.score < THRESHOLD:
        raise AmbiguousError(
            f"{what}: best candidate {top.label or top.path} scores {top.score:.3f}, "
            f"below the threshold {THRESHOLD}",
            details=details,
        )
    return top
