"""Ochiai ranking of the functions failing tests call (pure)."""

from __future__ import annotations

import pytest

from codeprm.agents.verify import rank_suspects


def test_functions_only_failing_tests_call_rank_first() -> None:
    rows = [
        ("t1", "fail", "m.py", 10, "buggy"),
        ("t1", "fail", "m.py", 30, "shared"),
        ("t2", "pass", "m.py", 30, "shared"),
        ("t3", "pass", "m.py", 50, "clean"),
        ("t4", "fail", "m.py", 10, "buggy"),
    ]
    ranked = rank_suspects(rows)
    assert [s.qualname for s in ranked] == ["buggy", "shared", "clean"]
    assert ranked[0].score == pytest.approx(1.0)
    assert ranked[1].score == pytest.approx(1 / (2 * 2) ** 0.5)
    assert ranked[2].score == 0.0


def test_without_outcomes_every_called_function_ranks_the_same() -> None:
    ranked = rank_suspects([("-", "-", "m.py", 30, "b"), ("-", "-", "m.py", 10, "a")])
    assert [(s.qualname, s.score) for s in ranked] == [("a", 1.0), ("b", 1.0)]
