"""Find where a stale anchor snippet went: exact occurrences, else winnowed-fingerprint matches.

Exact occurrences of the snippet come first. When there are none, the snippet and the
file are normalised (whitespace dropped) and fingerprinted with winnowed k-grams (k=7,
w=4, ``codeprm.selectors.winnow``). Every fingerprint the two share votes for an implied
start of the snippet in the file; sorted by implied start, votes form one candidate
region while they lie within the anchor's ``ctx`` characters of the region's first vote
(so up to ``ctx`` non-space characters inserted into or deleted from the snippet still
give one candidate) and while no snippet fingerprint repeats (a repeat is another copy
of the snippet). A region is kept only if it holds at least ``MIN_COVERAGE`` of the
snippet's distinct fingerprints.

``ctx`` is also the context window used in scoring: when the text the anchor was made
against is known (its docVersion is in the index history), the tokens of ``ctx``
characters either side of the old occurrence join the reference tokens, and the same
window around each candidate joins the candidate's, so duplicates are told apart by
their surroundings. Pure: works on given texts.
"""

from __future__ import annotations

from dataclasses import dataclass

from codeprm.selectors.winnow import fingerprints, normalize

MIN_COVERAGE = 0.5


@dataclass(frozen=True, slots=True)
class Region:
    """``text[start:end]`` (code-point offsets) may be the snippet; ``coverage`` in 0..1."""

    start: int
    end: int
    coverage: float


def exact_occurrences(text: str, snippet: str) -> list[int]:
    """Start offsets of every (possibly overlapping) occurrence of ``snippet`` in ``text``."""
    out: list[int] = []
    at = text.find(snippet)
    while at >= 0:
        out.append(at)
        at = text.find(snippet, at + 1)
    return out


def fuzzy_regions(text: str, snippet: str, ctx: int) -> list[Region]:
    """Regions of ``text`` that share enough winnowed fingerprints with ``snippet``."""
    ns, nt = normalize(snippet), normalize(text)
    snippet_fps = fingerprints(ns.text)
    if not snippet_fps or not nt.text:
        return []
    wanted = {h for h, _ in snippet_fps}
    by_hash: dict[int, list[int]] = {}
    for h, pos in fingerprints(nt.text):
        if h in wanted:
            by_hash.setdefault(h, []).append(pos)
    distinct = len({p for _, p in snippet_fps})
    votes: list[tuple[int, int]] = []  # (implied normalised start, snippet fingerprint position)
    for h, spos in snippet_fps:
        for tpos in by_hash.get(h, ()):
            votes.append((tpos - spos, spos))
    if not votes:
        return []
    votes.sort()
    clusters: list[list[tuple[int, int]]] = [[votes[0]]]
    members: set[int] = {votes[0][1]}
    for vote in votes[1:]:
        # one region spans at most ctx implied starts and holds each snippet fingerprint
        # once: a second vote for the same fingerprint is another copy of the snippet
        if vote[0] - clusters[-1][0][0] <= ctx and vote[1] not in members:
            clusters[-1].append(vote)
            members.add(vote[1])
        else:
            clusters.append([vote])
            members = {vote[1]}
    regions: list[Region] = []
    for cluster in clusters:
        coverage = len({spos for _, spos in cluster}) / distinct
        if coverage < MIN_COVERAGE:
            continue
        nstart = max(0, cluster[0][0])
        nend = min(len(nt.text), cluster[-1][0] + len(ns.text))
        if nend <= nstart:
            continue
        regions.append(Region(nt.offsets[nstart], nt.offsets[nend - 1] + 1, round(coverage, 6)))
    return regions


def context_window(text: str, start: int, end: int, ctx: int) -> str:
    """``text[start:end]`` with up to ``ctx`` characters either side."""
    return text[max(0, start - ctx) : end + ctx]
