"""Relocation: winnowing, fuzzy anchors, feature scoring, the decision rule and its errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codeprm.errors import AmbiguousError, NotFoundError, VersionSkewError
from codeprm.selectors import THRESHOLD, WEIGHTS, WorkspaceIndex, doc_version, resolve
from codeprm.selectors.relocate import fuzzy_regions
from codeprm.selectors.scoring import Candidate, Reference, ScoredCandidate, decide, rank
from codeprm.selectors.winnow import K, W, fingerprints, normalize
from codeprm.types import Position, Range

R0 = Range(Position(0, 0), Position(0, 1))


def test_weights_are_convex_and_recorded() -> None:
    assert WEIGHTS == {"ast_kind": 0.5, "module": 0.2, "jaccard": 0.2, "proximity": 0.1}
    assert abs(sum(WEIGHTS.values()) - 1.0) < 1e-12
    assert THRESHOLD == 0.8


def test_winnowing_is_deterministic_and_whitespace_blind() -> None:
    a = fingerprints(normalize("def load_data(path):\n    return path").text)
    b = fingerprints(normalize("def  load_data( path ):\n\treturn path").text)
    assert a == b and a
    assert fingerprints("short") == []  # fewer than k characters


@settings(max_examples=80, deadline=None)
@given(
    st.text("abcdefgh(){}", min_size=K + W - 1, max_size=30),
    st.text("xyz", max_size=10),
    st.text("uvw", max_size=10),
)
def test_winnowing_guarantee(shared: str, left: str, right: str) -> None:
    """Two texts sharing a run of k + w - 1 characters share a fingerprint."""
    one = {h for h, _ in fingerprints(left + shared)}
    two = {h for h, _ in fingerprints(shared + right)}
    assert one & two


def test_fuzzy_anchor_tolerates_edits_within_ctx() -> None:
    text = "x = 1\nresult = compute_alpha_beta(gamma_delta, epsilon_zeta)\ny = 2\n"
    snippet = "result = compute_alpha_beta(gamma, epsilon_zeta)"
    (wide,) = fuzzy_regions(text, snippet, 32)
    assert text[wide.start : wide.end] == "result = compute_alpha_beta(gamma_delta, epsilon_zeta)"
    (narrow,) = fuzzy_regions(text, snippet, 0)  # the part after the insertion is dropped
    assert narrow.end < wide.end and narrow.coverage < wide.coverage
    assert fuzzy_regions(text, "completely_unrelated_words_here", 32) == []


def _cand(path: str, kind: str, tokens: set[str], line: int = 0, module: str = "m") -> Candidate:
    return Candidate(path, module, kind, frozenset(tokens), line, R0, None, f"{path}:{line}")


def test_features_and_scores() -> None:
    ref = Reference("function", "pkg.m", "pkg/m.py", frozenset({"f", "x"}), line=10)
    (same,) = rank(ref, [_cand("pkg/m.py", "function", {"f", "x"}, 10, "pkg.m")])
    assert same.features == {"ast_kind": 1.0, "module": 1.0, "jaccard": 1.0, "proximity": 1.0}
    assert same.score == 1.0
    (moved,) = rank(ref, [_cand("other/m.py", "class", {"f"}, 10, "other.m")])
    assert moved.features == {"ast_kind": 0.0, "module": 0.5, "jaccard": 0.5, "proximity": 0.0}
    assert moved.score == pytest.approx(0.2)
    (far,) = rank(ref, [_cand("pkg/m.py", "function", {"f", "x"}, 30, "pkg.m")])
    assert far.features["proximity"] == pytest.approx(1 / 3, abs=1e-6)
    unknown = Reference(None, "pkg.m", None, frozenset({"f"}))
    (c,) = rank(unknown, [_cand("pkg/m.py", "function", {"f"}, 3, "pkg.m")])
    assert (c.features["ast_kind"], c.features["proximity"]) == (0.5, 0.5)


def test_ranking_ties_are_broken_by_path_then_range() -> None:
    ref = Reference("function", "m", None, frozenset({"f"}))
    cands = [_cand(p, "function", {"f"}) for p in ("b.py", "a.py", "c.py")]
    assert [c.path for c in rank(ref, cands)] == ["a.py", "b.py", "c.py"]


def _scored(score: float, path: str = "a.py") -> ScoredCandidate:
    return ScoredCandidate(path, R0, dict.fromkeys(WEIGHTS, score), score)


def test_decide() -> None:
    assert decide([_scored(0.9), _scored(0.85, "b.py")], what="s").score == 0.9
    with pytest.raises(NotFoundError):
        decide([], what="s")
    with pytest.raises(AmbiguousError) as tie:
        decide([_scored(0.9), _scored(0.9, "b.py")], what="s")
    assert "tie" in tie.value.message
    assert [c["path"] for c in tie.value.details["candidates"]] == ["a.py", "b.py"]
    with pytest.raises(AmbiguousError) as low:
        decide([_scored(0.79)], what="s")
    assert low.value.details["threshold"] == THRESHOLD
    assert low.value.details["weights"] == WEIGHTS


BASE = (
    "import os\n\n\n"
    "def load_data(path: str, strict: bool = False) -> list[str]:\n"
    "    return open(path).read().splitlines()\n\n\n"
    "def save(path, rows):\n"
    "    pass\n"
)


def test_rename_is_relocated_with_history_and_unsure_without() -> None:
    index = WorkspaceIndex.from_texts({"pkg/io.py": BASE})
    v = doc_version(BASE)
    index.set_text("pkg/io.py", BASE.replace("def load_data(", "def load_rows("))
    res = resolve(f"py://pkg.io#load_data?v={v}", index)
    assert (res.range.start.line, res.version_check) == (3, "relocated")
    assert THRESHOLD <= res.confidence < 1.0
    assert res.candidates[0].label == "py://pkg.io#load_rows"
    assert res.to_json()["candidates"][0]["features"]["ast_kind"] == 1.0
    with pytest.raises(NotFoundError):  # no history, no same-name definition anywhere
        resolve("py://pkg.io#load_data", index)
    with pytest.raises(VersionSkewError) as skew:
        resolve("py://pkg.io#load_data?v=0123456789ab", index)
    assert skew.value.exit_code == 10 and skew.value.details["cause"] == "not-found"


def test_moved_module_is_a_candidate_but_not_confident() -> None:
    index = WorkspaceIndex.from_texts({"pkg/new_home.py": BASE})
    with pytest.raises(AmbiguousError) as info:
        resolve("py://pkg.io#load_data", index)
    (cand,) = info.value.details["candidates"]
    assert cand["label"] == "py://pkg.new_home#load_data"
    assert cand["score"] < THRESHOLD
    assert info.value.exit_code == 4


def test_duplicate_anchor_is_disambiguated_by_history() -> None:
    text = "def a():\n    return compute_total(x)\n\n\ndef b():\n    return compute_total(y)\n"
    index = WorkspaceIndex.from_texts({"m.py": text})
    v = doc_version(text)
    with pytest.raises(AmbiguousError):
        resolve('anchor://m.py#"return%20compute_total("?ctx=0', index)
    edited = "import os\n" + text.replace(
        "def b():\n    return compute_total(y)", "def b():\n    return compute_total(x)"
    )
    index.set_text("m.py", edited)
    # before: the snippet occurred twice; history alone cannot tell which was meant
    with pytest.raises(VersionSkewError):
        resolve(f'anchor://m.py#"return%20compute_total("?v={v}', index)
    # a snippet unique in the old text: its old context and line pick the right copy
    res = resolve(f'anchor://m.py#"return%20compute_total(y"?v={v}', index)
    assert res.range == Range(Position(6, 4), Position(6, 26))
    assert res.version_check == "relocated" and res.confidence >= THRESHOLD
    assert len(res.candidates) == 2 and res.candidates[1].range.start.line == 2
    # without the old text both copies look the same: not confident
    with pytest.raises(AmbiguousError):
        resolve('anchor://m.py#"return%20compute_total(y"', index)


def test_resolution_json_is_complete() -> None:
    index = WorkspaceIndex.from_texts({"m.py": "def f():\n    pass\n"})
    data = resolve("py://m#f", index).to_json()
    assert set(data) == {
        "selector",
        "kind",
        "path",
        "range",
        "positionEncoding",
        "confidence",
        "symbolId",
        "candidates",
        "weights",
        "threshold",
        "versionCheck",
    }
    assert data["range"] == {
        "start": {"line": 0, "character": 0},
        "end": {"line": 1, "character": 8},
    }
    assert (data["confidence"], data["kind"], data["positionEncoding"]) == (1.0, "symbol", "utf-16")
