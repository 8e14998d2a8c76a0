"""structure.surface: what other modules can see of a module (no server needed)."""

from __future__ import annotations

import pytest

from codeprm.analysis.structure import surface, surfaces_digest

BASE = """def f(a: int) -> int:
    return a


def g(a):
    return a


class C:
    def m(self) -> int:
        return 1
"""


@pytest.mark.parametrize(
    ("old", "new", "same"),
    [
        (
            "    return a\n\n\ndef g",
            "    b = a\n    c: int = 'x'\n    return b\n\n\ndef g",
            True,
        ),  # annotated body
        ("        return 1", "        return 2", True),  # method body
        ("def f(a: int) -> int:", "def f(a: int, b: int = 0) -> int:", False),  # signature
        ("def g(a):\n    return a", "def g(a):\n    return 1", False),  # inferred return type
        (
            "        return 1",
            "        self.x = 1\n        return 1",
            False,
        ),  # declares an attribute
        (
            "        return 1",
            "        for self.y in []:\n            pass\n        return 1",
            False,
        ),
        (
            "    return a\n\n\ndef g",
            "    global G\n    G = 1\n    return a\n\n\ndef g",
            False,
        ),  # declares a global
        ("    return a\n\n\ndef g", "    return (a\n\n\ndef g", False),  # syntax error: no claim
        ("class C:", "X = 1\n\n\nclass C:", False),  # a new top-level name
    ],
)
def test_surface_changes_only_when_other_modules_can_see_it(old: str, new: str, same: bool) -> None:
    assert old in BASE
    assert (surface(BASE) == surface(BASE.replace(old, new, 1))) is same


def test_surfaces_digest_counts_configuration_whole() -> None:
    a = {"m.py": BASE, "pyrightconfig.json": "{}"}
    assert surfaces_digest(a) == surfaces_digest(
        {**a, "m.py": BASE.replace("return 1", "return 2")}
    )
    assert surfaces_digest(a) != surfaces_digest({**a, "pyrightconfig.json": '{"strict": ["."]}'})
