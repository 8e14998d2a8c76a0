"""Which lines no execution reaches (the guard's ``unreachable-code``), and which it must
never claim: a wrong claim would call a real fix hidden."""

from __future__ import annotations

import textwrap

import pytest

from codeprm.rewards.reachability import unreachable_lines


def dead(src: str) -> list[str]:
    text = textwrap.dedent(src)
    lines = text.splitlines()
    return [lines[i].strip() for i in sorted(unreachable_lines(text))]


@pytest.mark.parametrize(
    "exit_",
    [
        "return 1",
        "raise ValueError",
        "sys.exit(1)",
        "exit()",
        "os._exit(0)",
        "assert False",
        "assert_never(x)",
        "typing.assert_never(x)",
    ],
)
def test_what_follows_a_way_out_is_dead(exit_: str) -> None:
    src = f"""
    def f(x):
        y = 1
        {exit_}
        z: int = "s"
        return z
    """
    assert dead(src) == ['z: int = "s"', "return z"]


def test_loops_break_and_continue_end_their_block_only() -> None:
    src = """
    def f(xs):
        for x in xs:
            continue
            a = 1
        while xs:
            break
            b = 2
        return 3
    """
    assert dead(src) == ["a = 1", "b = 2"]


def test_an_endless_loop_without_break_ends_the_block() -> None:
    src = """
    def f():
        while True:
            pass
        after = 1
    """
    assert dead(src) == ["after = 1"]


def test_an_endless_loop_with_a_break_does_not() -> None:
    src = """
    def f(x):
        while True:
            if x:
                break
        after = 1
        while 1:
            for y in x:
                break  # the inner loop's
            return 0
        tail = 2
    """
    assert dead(src) == ["tail = 2"]


def test_constant_tests() -> None:
    src = """
    from typing import TYPE_CHECKING
    if False:
        a = 1
    if not True:
        b = 2
    else:
        c = 3
    if TYPE_CHECKING:
        d = 4
    else:
        e = 5
    if not TYPE_CHECKING:
        f = 6
    while 0:
        g = 7
    """
    assert dead(src) == ["a = 1", "b = 2", "e = 5", "f = 6", "g = 7"]


def test_both_branches_leaving_ends_the_block() -> None:
    src = """
    def f(x):
        if x:
            return 1
        else:
            raise ValueError
        gone = 1
    """
    assert dead(src) == ["gone = 1"]


@pytest.mark.parametrize(
    "src",
    [
        # only one branch leaves
        "def f(x):\n    if x:\n        return 1\n    kept = 1\n",
        # a context manager may swallow the exception
        "def f():\n    with suppress(ValueError):\n        raise ValueError\n    kept = 1\n",
        # a handler that falls through
        "def f():\n    try:\n        return 1\n    except ValueError:\n        pass\n    kept = 1\n",
        # a nested scope's return ends that scope, not this block
        "def f():\n    def g():\n        return 1\n    kept = g()\n",
        # interpreter-dependent tests are not read (bundles must not differ by environment)
        "import sys\nif sys.version_info < (3,):\n    kept = 1\n",
        # a call that merely looks final
        "def f():\n    log.exit()\n    kept = 1\n",
        # a half-finished edit: no claim
        "def f(:\n    return 1\n    kept = 1\n",
    ],
)
def test_no_claim_without_proof(src: str) -> None:
    assert unreachable_lines(src) == frozenset()


def test_try_whose_every_way_out_leaves() -> None:
    src = """
    def f():
        try:
            return 1
        except ValueError:
            raise
        gone = 1
    """
    assert dead(src) == ["gone = 1"]


def test_dropped_annotations_are_per_function_and_a_correction_is_not_one() -> None:
    from codeprm.rewards.guard import _dropped_annotations

    before = "def f(a: int, b: str) -> int:\n    return a\n\n\nclass C:\n    def m(self, x: int) -> None: ...\n"
    assert _dropped_annotations(before, before.replace("b: str", "b")) == ["f"]
    assert _dropped_annotations(before, before.replace(") -> None", ")")) == ["C.m"]
    assert _dropped_annotations(before, before.replace("b: str", "b: bytes")) == []
    assert _dropped_annotations(before, "f = lambda a, b: a\n") == ["f"]
    assert _dropped_annotations(before, "") == []  # deleted: not dropped (deletion is its own rule)
    assert _dropped_annotations(before, "def f(:\n") == []  # unparsable: no claim


def test_version_tests_are_read_against_the_target_version() -> None:
    src = textwrap.dedent(
        """
        import sys
        if sys.version_info < (3, 0):
            a = 1
        if sys.version_info >= (3, 12):
            b = 2
        else:
            c = 3
        if sys.version_info[0] == 2:
            d = 4
        if sys.version_info >= (3, 11, 2):
            e = 5
        """
    )
    lines = src.splitlines()
    dead = [lines[i].strip() for i in sorted(unreachable_lines(src, (3, 11)))]
    assert dead == ["a = 1", "b = 2", "d = 4"]  # a three-part version is not read
    assert unreachable_lines(src) == frozenset()  # no version given: no claim
    assert [lines[i].strip() for i in sorted(unreachable_lines(src, (3, 12)))] == [
        "a = 1",
        "c = 3",
        "d = 4",
    ]
