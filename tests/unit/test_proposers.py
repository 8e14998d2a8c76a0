"""Mutation repairs: the inverse of each kind of injected bug is among the candidates (pure)."""

from __future__ import annotations

import pytest

from codeprm.agents.proposers import MutationRepairs, Observation, return_repairs

ORIGINAL = """\
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
"""


@pytest.mark.parametrize(
    ("bug", "fixed_from"),
    [
        ("total = amount - fee", "total = amount - amount"),  # wrong variable
        (
            'return f"{self.owner} (',
            'return f"{other.owner} (',
        ),  # self replaced: the repair puts self back
        (
            "self.balance = self.balance + total",
            "self.balance = self.owner + total",
        ),  # wrong attribute on self
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
    assert [(p.id, p.new_text) for p in out] == [
        ("a", "x = 1\n"),
        ("a#2", "x = 2\n"),
        ("a#3", "x = 3\n"),
    ]


def _proposed(buggy: str, bad: str) -> list[str]:
    """The proposals for ``buggy`` when the tests called the function holding ``bad``."""
    lines = buggy[: buggy.index(bad)].splitlines()
    def_line = max(n for n, line in enumerate(lines) if line.lstrip().startswith("def "))
    obs = Observation({"m.py": buggy}, ["m.py"], called={"m.py": [def_line]})
    return [p.new_text for p in MutationRepairs().propose(obs)]


# one (fixed, buggy) pair per class of real single-line bug; the fix must be proposed
# with the proposer's default bounds
REAL_BUGS = {
    "augassign-swap": (
        "def f(xs):\n    t = 0\n    for x in xs:\n        t += x\n    return t\n",
        "t += x",
        "t -= x",
    ),
    "extra-plus-one": (
        "def f(xs):\n    return xs[len(xs) // 2]\n",
        "xs[len(xs) // 2]",
        "xs[len(xs) // 2 + 1]",
    ),
    "missing-minus-one": ("def last(xs, n):\n    return xs[n - 1]\n", "xs[n - 1]", "xs[n]"),
    "bound-minus-one": (
        "def f(xs, i):\n    if i < len(xs) - 1:\n        return xs[i + 1]\n    return None\n",
        "len(xs) - 1:",
        "len(xs):",
    ),
    "slice-side": ("def tail(xs, n):\n    return xs[n:]\n", "xs[n:]", "xs[:n]"),
    "slice-bound-dropped": ("def f(s, i, j):\n    return s[:j]\n", "s[:j]", "s[i:j]"),
    "swapped-tuple": (
        "def info(e):\n    return e.kind, e.value, e.tb\n",
        "e.kind, e.value",
        "e.value, e.kind",
    ),
    "swapped-operands": ("def gap(a, b):\n    return b - a\n", "b - a", "a - b"),
    "swapped-arguments": (
        "def f(a, b):\n    return divmod(a, b)\n",
        "divmod(a, b)",
        "divmod(b, a)",
    ),
    "extra-not": (
        "def f(a, b):\n    ok = a and b\n    return ok\n",
        "ok = a and b",
        "ok = not a and b",
    ),
    "missing-not": (
        "def f(seen, x):\n    return x is None or not seen\n",
        "or not seen",
        "or seen",
    ),
    "extra-condition": (
        "def f(a, b):\n    if a:\n        return 1\n    return 0\n",
        "if a:",
        "if a and b:",
    ),
    "missing-guard": (
        "class T:\n    def n(self):\n        if self.cols and len(self.cols) > 0:\n            return 1\n        return 0\n",
        "if self.cols and len(",
        "if len(",
    ),
    "missing-none-guard": (
        "def f(x, limit):\n    if limit is not None and x > limit:\n        return limit\n    return x\n",
        "if limit is not None and x",
        "if x",
    ),
    "constant-bool": ("def f(d):\n    d.setdefault('on', True)\n    return d\n", "True", "False"),
    "constant-none": ("def f(d, k):\n    return d.get(k, None)\n", "None)", "0)"),
    "constant-minus-one": ("def f(xs):\n    return xs[-1]\n", "xs[-1]", "xs[0]"),
    "missing-call": (
        "class A:\n    def size(self):\n        return 1\n\n    def g(self):\n        n = self.size()\n        return n\n",
        "n = self.size()",
        "n = self.size",
    ),
    "extra-call": (
        "class A:\n    path = 'p'\n\n    def g(self):\n        return self.path\n\n    def h(self):\n        return self.path()\n",
        "        return self.path\n\n    def h",
        "        return self.path()\n\n    def h",
    ),
    "missing-len": (
        "def f(xs):\n    out = []\n    for i in range(len(xs)):\n        out.append(i)\n    return out\n",
        "range(len(xs))",
        "range(xs)",
    ),
    "wrong-method": (
        "class FS:\n    def mkdir(self, d):\n        return d\n\n    def move(self, d):\n        self.mkdir(d)\n",
        "self.mkdir(d)\n",
        "self.fs.mkdir(d)\n",
    ),
    "missing-self": (
        "class A:\n    def __init__(self):\n        self.items = []\n\n    def add(self, x):\n        self.items.append(x)\n        return len(self.items)\n",
        "return len(self.items)",
        "return len(items)",
    ),
    "missing-return": (
        "def f(xs):\n    xs.sort()\n    return sorted(xs)\n",
        "return sorted(xs)",
        "sorted(xs)",
    ),
    "missing-return-value": (
        "def f(xs):\n    total = sum(xs)\n    return total\n",
        "    total = sum(xs)\n    return total\n",
        "    total = sum(xs)\n",
    ),
    "missing-break": (
        "def find(xs, y):\n    hit = None\n    for x in xs:\n        if x == y:\n            hit = x\n            break\n    return hit\n",
        "            hit = x\n            break\n",
        "            hit = x\n",
    ),
    "missing-continue": (
        "def f(xs):\n    out = []\n    for x in xs:\n        if x < 0:\n            out.append(0)\n            continue\n        out.append(x)\n    return out\n",
        "            out.append(0)\n            continue\n",
        "            out.append(0)\n",
    ),
    "extra-argument": (
        "def f(x, a):\n    return g(x, key=a)\n\n\ndef g(x, key=None):\n    return x\n",
        "g(x, key=a)",
        "g(x, a, key=a)",
    ),
    "extra-tuple-element": (
        "def shape(s, n):\n    return (s[0], n)\n",
        "(s[0], n)",
        "(s[0], s[1], n)",
    ),
    "wrong-builtin": ("def f(xs):\n    return max(xs, default=0)\n", "max(", "min("),
    "wrong-method-twin": (
        "def f(name):\n    return name.endswith('.py')\n",
        "endswith",
        "startswith",
    ),
    "inverse-operator": ("def area(r):\n    return 3 * r ** 2\n", "r ** 2", "r * 2"),
    "wrong-variable-similar": (
        "def f(l_bar, l_bar_user, n):\n    return l_bar_user.format(n)\n",
        "l_bar_user.format",
        "l_bar.format",
    ),
}


@pytest.mark.parametrize("name", sorted(REAL_BUGS))
def test_the_fix_of_a_real_bug_class_is_proposed(name: str) -> None:
    fixed, good, bad = REAL_BUGS[name]
    assert good in fixed
    buggy = fixed.replace(good, bad, 1)
    proposals = _proposed(buggy, bad)
    assert fixed in proposals, name
    assert len(set(proposals)) == len(proposals)
    assert len(proposals) <= 400


def test_candidates_are_bounded_per_function_and_likeliest_classes_come_first() -> None:
    # a long function with many names: the candidates stop at the per-function bound
    body = "".join(f"    v{i} = a{i % 7} + v{i - 1} * {i}\n" for i in range(1, 25))
    text = (
        "def big("
        + ", ".join(f"a{i}" for i in range(7))
        + "):\n    v0 = 0\n"
        + body
        + "    return v24\n"
    )
    two = text + "\n\n" + text.replace("def big(", "def big2(")
    second = two.count("\n", 0, two.index("def big2("))
    obs = Observation({"m.py": two}, ["m.py"], called={"m.py": [0, second]})
    proposals = MutationRepairs(max_per_function=120, max_per_file=300).propose(obs)
    # the first function stops at its bound, the last one (no function after it) at the file's
    assert [p.detail["function"] for p in proposals].count("big") == 120
    assert len(proposals) == 300
    proposals = proposals[:120]
    kinds = [p.detail["kind"] for p in proposals]
    # the likeliest classes first: operator swaps and off-by-one make the cut, deleting a line does not
    assert kinds[0] in ("compare-swap", "operator-swap", "off-by-one", "constant")
    assert {"operator-swap", "off-by-one"} <= set(kinds) and "deleted-statement" not in kinds
    assert len(MutationRepairs(max_per_file=50).propose(obs)) == 50


def test_a_methods_def_line_focuses_that_method() -> None:
    from codeprm.agents.proposers import suspicious_functions

    text = "class A:\n    def f(self):\n        return 1\n\n    def g(self):\n        return 2\n"
    assert [q for _, _, q in suspicious_functions(text, [4])] == ["A.g"]
    assert [q for _, _, q in suspicious_functions(text, [])] == ["A.f", "A.g"]
