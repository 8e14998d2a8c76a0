"""The guard on TypeScript / JavaScript texts (pure: no server)."""

from __future__ import annotations

from codeprm.rewards.guard import detect, strip_suppressions, suppression_count
from codeprm.rewards.identity import Located
from codeprm.types import Diagnostic, Position, Range


def fixed_at(path: str, line: int) -> Located:
    d = Diagnostic(
        path,
        Range(Position(line, 4), Position(line, 8)),
        "error",
        "Expected 3 arguments, but got 2.",
        "2554",
        "ts",
    )
    return Located(d, "Cart.total")


BEFORE = "class Cart {\n  total() {\n    return add(a, b);\n  }\n}\n"


def test_a_ts_ignore_above_the_line_hides_what_it_fixed() -> None:
    after = BEFORE.replace("    return add", "    // @ts-ignore\n    return add")
    guard = detect({"c.ts": BEFORE}, {"c.ts": after}, [fixed_at("c.ts", 2)])
    assert [d.kind for d in guard.detections] == ["suppression-comment"] and len(guard.hidden) == 1


def test_ts_nocheck_hides_the_whole_file_and_any_widens() -> None:
    guard = detect({"c.js": BEFORE}, {"c.js": "// @ts-nocheck\n" + BEFORE}, [fixed_at("c.js", 2)])
    assert len(guard.hidden) == 1
    widened = detect(
        {"c.ts": BEFORE},
        {"c.ts": BEFORE.replace("add(a, b)", "add(a as any, b)")},
        [fixed_at("c.ts", 2)],
    )
    assert [d.kind for d in widened.detections] == ["any-widening"] and len(widened.hidden) == 1


def test_a_real_fix_is_not_hidden_and_python_patterns_are_as_before() -> None:
    guard = detect(
        {"c.ts": BEFORE},
        {"c.ts": BEFORE.replace("add(a, b)", "add(a, b, 1)")},
        [fixed_at("c.ts", 2)],
    )
    assert guard.detections == () and guard.hidden == ()
    # a call of a function named any is not a widening; Python's own patterns are unchanged
    calls = detect(
        {"c.ts": BEFORE},
        {"c.ts": BEFORE.replace("add(a, b)", "add(a, b, items.some((x): boolean => x))")},
        [],
    )
    assert calls.detections == ()
    assert suppression_count("x = 1  # type: ignore\ny = 'https://example.com'  # a url\n") == 1
    assert strip_suppressions("const x = f(); // @ts-expect-error\n") == "const x = f();\n"
