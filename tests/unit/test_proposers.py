"""Mutation repairs: the inverse of each kind of injected bug is among the candidates (pure)."""

from __future__ import annotations

import pytest

from codeprm.agents.proposers import MutationRepairs, Observation, return_repairs

ORIGINAL = '''\
class Account:
    def __init__(self, owner, balance):
        self.owner = owner
        self.balance = balance

    def deposit(self, amount, fee):
        total = amount - fee
        if total <= 0:
            return self.balance
        self.balance = self.balance + total
        return self.balance

    def describe(self, other):
        return f"{self.owner} ({self.balance}) vs {other.owner}"

    def net(self, amount, fee):
        kept = amount - fee
        return kept
'''


@pytest.mark.parametrize(
    ("bug", "fixed_from"),
    [
        ("total = amount - fee", "total = amount - amount"),  # wrong variable
        ("return f\"{self.owner} (", "return f\"{other.owner} ("),  # self replaced: the repair puts self back
        ("self.balance = self.balance + total", "self.balance = self.owner + total"),  # wrong attribute on self
        ("        return kept\n", "        return\n"),  # dropped return value
    ],
)
def test_the_fix_is_proposed(bug: str, fixed_from: str) -> None:
    assert bug in ORIGINAL
    buggy = ORIGINAL.replace(bug, fixed_from, 1)
    obs = Observation({"m.py": buggy}, ["m.py"])
    proposals = MutationRepairs(max_per_file=10_000).propose(obs)
    assert ORIGINAL in {p.new_text for p in proposals}
    assert len({p.new_text for p in proposals}) == len(proposals)  # no duplicates


def test_return_repairs_name_each_local_and_skip_nested_functions() -> None:
    snippet = "def f(a):\n    b = a * 2\n    def g():\n        return\n    return\n"
    texts = [t for _, _, t in return_repairs(snippet)]
    # f's own bare return gets each of f's names; g's (nested, no names of its own) gets none
    assert texts == [snippet.replace("    return\n", "    return a\n").replace("        return a\n", "        return\n"),
                     snippet.replace("    return\n", "    return b\n").replace("        return b\n", "        return\n")]  # fmt: skip
    assert return_repairs("def f(a):\n    return a\n") == []
    assert return_repairs("not python (") == []


def test_dedupe_drops_repeated_texts_and_makes_ids_unique() -> None:
    from codeprm.agents.proposers import Proposal, dedupe

    props = [Proposal("a", "m.py", "x = 1\n", "mutation"), Proposal("a", "m.py", "x = 2\n", "mutation"),
             Proposal("b", "m.py", "x = 1\n", "quickfix"), Proposal("a", "m.py", "x = 3\n", "mutation")]  # fmt: skip
    out = dedupe(props)
    assert [(p.id, p.new_text) for p in out] == [("a", "x = 1\n"), ("a#2", "x = 2\n"), ("a#3", "x = 3\n")]
