"""Bug injection: every kind fires on realistic code, results parse, repairs restore exactly."""

from __future__ import annotations

import ast
import difflib
import random

import pytest

from codeprm.prm.mutate import (
    MUTATION_KINDS,
    break_a_name,
    enumerate_mutations,
    equivalent,
    parses,
    undefined_names,
)

SOURCE = '''\
    def total(self, items, limit=3):
        """Sum the first items."""
        acc = 0
        for i in range(len(items)):
            if items[i] < limit and not self.skip:
                acc += items[i] * 2
        log(acc, limit)
        return acc
'''


def changed(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("---", "+++")
    ]


def check(kind: str, expected: list[str]) -> None:
    """``kind`` produces a mutation whose changed lines are exactly ``expected``."""
    results = [
        changed(SOURCE, m.apply(SOURCE))
        for m in enumerate_mutations(SOURCE, attr_pool=["skip", "keep"])
        if m.kind == kind
    ]
    assert expected in results, f"{kind}: {results[:6]}"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "compare-swap",
            [
                "-            if items[i] < limit and not self.skip:",
                "+            if items[i] <= limit and not self.skip:",
            ],
        ),
        (
            "operator-swap",
            ["-                acc += items[i] * 2", "+                acc -= items[i] * 2"],
        ),
        (
            "operator-swap",
            [
                "-            if items[i] < limit and not self.skip:",
                "+            if items[i] < limit or not self.skip:",
            ],
        ),
        (
            "off-by-one",
            ["-        for i in range(len(items)):", "+        for i in range(len(items) - 1):"],
        ),
        ("off-by-one", ["-        acc = 0", "+        acc = 1"]),
        (
            "wrong-attribute",
            [
                "-            if items[i] < limit and not self.skip:",
                "+            if items[i] < limit and not self.keep:",
            ],
        ),
        ("wrong-argument", ["-        log(acc, limit)", "+        log(limit, acc)"]),
        ("dropped-return", ["-        return acc", "+        return"]),
        (
            "negated-condition",
            [
                "-            if items[i] < limit and not self.skip:",
                "+            if not (items[i] < limit and not self.skip):",
            ],
        ),
        ("deleted-statement", ["-        log(acc, limit)"]),
    ],
)
def test_each_kind_fires(kind: str, expected: list[str]) -> None:
    check(kind, expected)


def test_wrong_variable_uses_a_name_in_scope() -> None:
    muts = [m for m in enumerate_mutations(SOURCE) if m.kind == "wrong-variable"]
    assert muts
    scope = {"items", "limit", "acc", "i"}
    for m in muts:
        (new,) = [e[2] for e in m.edits]
        assert new in scope


def test_all_kinds_are_known() -> None:
    assert {m.kind for m in enumerate_mutations(SOURCE, attr_pool=["keep"])} <= set(MUTATION_KINDS)


def test_mutations_parse_and_invert_exactly_on_real_code(stdlib) -> None:
    files = sorted(stdlib.glob("*.py"))
    rng = random.Random(0)
    checked = 0
    for path in rng.sample(files, 5):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        lines = source.splitlines(keepends=True)
        funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)][:3]
        for f in funcs:
            text = "".join(lines[f.lineno - 1 : f.end_lineno])
            for m in enumerate_mutations(text)[:25]:
                buggy = m.apply(text)
                assert parses(buggy), (path, m)
                assert buggy != text
                # the inverse edit, as text, restores the original byte for byte
                matcher = difflib.SequenceMatcher(a=buggy, b=text, autojunk=False)
                repaired = "".join(
                    text[j1:j2] if tag != "equal" else buggy[i1:i2]
                    for tag, i1, i2, j1, j2 in matcher.get_opcodes()
                )
                assert repaired == text
                checked += 1
    assert checked > 60


def test_equivalence_ignores_formatting_not_meaning() -> None:
    assert equivalent("x = (1 +  2)  # c\n", "x = 1 + 2\n")
    assert not equivalent("x = 1 + 2\n", "x = 1 - 2\n")
    assert not equivalent("x = (\n", "x = (\n")  # unparseable is never equivalent


def test_broken_name_and_undefined_names() -> None:
    broken = break_a_name(SOURCE, 0)
    assert broken is not None and parses(broken)
    assert undefined_names(broken) - undefined_names(SOURCE)
    assert undefined_names(SOURCE) == {"log"}
    assert undefined_names(SOURCE, context="from x import log\n") == set()
