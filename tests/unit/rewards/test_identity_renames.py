"""A diagnostic whose message differs only by a renamed identifier is the same diagnostic."""

from __future__ import annotations

from codeprm.rewards.identity import Located, delta, renamed_identifiers, renamed_key
from codeprm.types import Diagnostic, Position, Range


def diag(message: str, line: int = 3) -> Diagnostic:
    return Diagnostic(
        "a.py",
        Range(Position(line, 0), Position(line, 1)),
        "error",
        message,
        "reportArgumentType",
        "basedpyright",
    )  # type: ignore[arg-type]


ARG = 'Argument of type "Literal[\'s\']" cannot be assigned to parameter "x" of type "int" in function "{}"'


def test_a_renamed_function_keeps_its_callers_diagnostics() -> None:
    before, after = [Located(diag(ARG.format("f")), "g")], [Located(diag(ARG.format("ff"), 4), "g")]
    assert len(delta(before, after).introduced) == 1  # without the rename they differ
    d = delta(before, after, {"f": "ff"})
    assert d.introduced == () and d.fixed == ()


def test_the_enclosing_name_is_renamed_too_and_only_whole_words() -> None:
    item = Located(diag('"f" is not defined; "fx" and "f_" stay'), "C.f")
    assert renamed_key(item, {"f": "ff"})[4:] == ('"ff" is not defined; "fx" and "f_" stay', "C.ff")
    assert renamed_key(item, {}) == item.key


def test_a_renamed_diagnostic_that_really_changed_is_still_new() -> None:
    d = delta(
        [Located(diag(ARG.format("f")), "g")],
        [Located(diag(ARG.format("ff").replace('"x"', '"y"')), "g")],
        {"f": "ff"},
    )
    assert len(d.introduced) == 1 and len(d.fixed) == 1


def test_renamed_identifiers_from_token_streams() -> None:
    assert renamed_identifiers(
        [("def f():\n    return 1\nf()  # f\n", "def ff():\n    return 1\nff()  # f\n")]
    ) == {"f": "ff"}
    # a change that is more than names is no rename; nor is one name given two new names
    assert renamed_identifiers([("x = a + b\n", "x = c * d\n")]) == {}
    assert renamed_identifiers([("f(1)\nf(2)\n", "g(1)\nh(2)\n")]) == {}
    # across files, and texts that do not tokenize give nothing
    assert renamed_identifiers(
        [
            ("def f(): pass\n", "def ff(): pass\n"),
            ("from a import f\nf()\n", "from a import ff\nff()\n"),
            ("(", ")"),
        ]
    ) == {"f": "ff"}


def test_a_moved_file_keeps_its_diagnostics() -> None:
    moved = Located(
        Diagnostic(
            "b.py",
            Range(Position(3, 0), Position(3, 1)),
            "error",
            ARG.format("f"),
            "reportArgumentType",
            "basedpyright",
        ),
        "g",
    )  # type: ignore[arg-type]
    assert delta([Located(diag(ARG.format("f")), "g")], [moved], moved={"a.py": "b.py"}) == delta(
        [], []
    )
    assert len(delta([Located(diag(ARG.format("f")), "g")], [moved]).introduced) == 1
