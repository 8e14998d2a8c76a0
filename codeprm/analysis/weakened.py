"""Detects a step that weakens tests: deleted, skipped or emptied tests and doctest examples.

Pure (``ast`` over the texts before and after). With execution facts on, the cheapest
way to raise a reward is to make the tests say less; ``weakened_tests`` names each such
change so the reward can refuse the credit. Kinds:

- ``deleted-test``: a test function or method (``test*`` in a test file) is gone and no
  changed test file gained one with the same name (a move is not a deletion);
- ``skip-added``: a test (or its class) gained a skip or expected-failure decorator
  (``skip``, ``skipIf``, ``skipUnless``, ``xfail``, ``expectedFailure``), or its body a
  ``self.skipTest``/``pytest.skip``/``pytest.xfail`` call;
- ``assertion-removed``: a test has fewer assertions (``assert``, ``self.assert*``,
  ``assert_*`` helpers, ``pytest.raises``; an assertion of a constant counts as none, and
  so does one made unreachable (an early ``return``, ``if False:``) or wrapped in a
  ``try`` whose handler swallows its failure);
- ``assertion-weakened``: as many assertions but weaker ones (a comparison or an
  equality-style ``assert*`` replaced by a truth test, or by a constant);
- ``assertion-changed``: as many assertions, as strong, but a literal value of the test
  is gone (an expected value edited to agree with the code, as
  ``doctest-expected-changed`` is for doctests); adding cases is not a change, and a
  refactor that moves values into a table keeps them;
- ``doctest-example-removed``: a definition's docstring (any changed Python file) has
  fewer doctest examples, or the definition carrying them is gone;
- ``doctest-expected-changed``: an example kept its source but its expected output
  changed (making a doctest agree with the code instead of the code with the doctest).

- ``test-config-changed``: the step changes what the test runner runs or how: a
  ``conftest.py`` (hooks can skip or deselect tests), ``pytest.ini``, the pytest sections
  of ``pyproject.toml``/``setup.cfg``/``tox.ini`` (``addopts = -k "not ..."``), or a
  ``sitecustomize.py``/``usercustomize.py`` in the workspace.

- ``test-data-changed``: a file the tests read (any non-Python file under a ``tests``/``test``
  folder: expected outputs, snapshots, fixtures) changed or deleted; new ones are not;
- ``test-detection``: code outside the tests gained a check for running under a test runner
  (``PYTEST_CURRENT_TEST``, ``"pytest" in sys.modules``): code that behaves differently
  when tested.

Test files: ``test_*.py``, ``*_test.py`` and anything under a ``tests``/``test``
folder. A state that does not parse is not judged.
"""

from __future__ import annotations

import ast
import doctest
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import PurePosixPath

from codeprm.analysis import pyast
from codeprm.rewards.guard import config_sections
from codeprm.rewards.reachability import unreachable_lines

_TEST_CONFIG = frozenset(
    {"conftest.py", "pytest.ini", ".pytest.ini", "sitecustomize.py", "usercustomize.py"}
)
_SHARED_CONFIG = frozenset({"pyproject.toml", "setup.cfg", "tox.ini"})
_TEST_SECTION = re.compile(r"^\s*\[(?:tool\.pytest[^\]]*|pytest|tool:pytest)\]", re.MULTILINE)
_UNDER_TEST = re.compile(
    r"PYTEST_CURRENT_TEST|[\"'](?:pytest|_pytest|unittest|nose)[\"']\s+in\s+sys\.modules"
)
_SKIP_NAMES = frozenset({"skip", "skipIf", "skipUnless", "xfail", "expectedFailure"})
_SKIP_CALLS = frozenset({"skipTest", "skip", "xfail"})
#: assertion helpers that only test truth: a comparison replaced by one of these is weaker
_TRUTH_ASSERTS = frozenset(
    {
        "assertTrue",
        "assertFalse",
        "assertIsNotNone",
        "assertIsNone",
        "assert_",
        "failUnless",
        "failIf",
    }
)


def is_test_path(path: str) -> bool:
    p = PurePosixPath(path)
    if p.suffix != ".py":
        return False
    return (
        p.name.startswith("test_")
        or p.name.endswith("_test.py")
        or any(part in {"tests", "test"} for part in p.parts[:-1])
    )


def _tail(node: ast.expr) -> str | None:
    """The last name of a (called) dotted expression: ``pytest.mark.skip(...)`` -> skip."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _parse(text: str | None) -> ast.Module | None:
    if text is None:
        return ast.Module(body=[], type_ignores=[])
    return pyast.parse(text)  # shared with the other readers of the step's texts: read only


def _tests(
    tree: ast.Module,
) -> dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef | None]]:
    out: dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef | None]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
            "test"
        ):
            out[node.name] = (node, None)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(
                    item, (ast.FunctionDef, ast.AsyncFunctionDef)
                ) and item.name.startswith("test"):
                    out[f"{node.name}.{item.name}"] = (item, node)
    return out


def _skips(fn: ast.AST) -> int:
    marks = sum(1 for d in getattr(fn, "decorator_list", []) if _tail(d) in _SKIP_NAMES)
    calls = (n for stmt in getattr(fn, "body", []) for n in ast.walk(stmt))
    return marks + sum(1 for n in calls if isinstance(n, ast.Call) and _tail(n.func) in _SKIP_CALLS)


def _strength(node: ast.AST) -> int | None:
    """2: a comparison-style assertion, 1: a truth test, 0: trivially true; None: not one."""
    if isinstance(node, ast.Assert):
        if isinstance(node.test, ast.Constant):
            return 0
        return 2 if isinstance(node.test, ast.Compare) else 1
    if isinstance(node, ast.Call):
        name = _tail(node.func)
        if name is None or not (
            name.startswith("assert") or name == "raises" or name in _TRUTH_ASSERTS
        ):
            return None
        if node.args and all(isinstance(a, ast.Constant) for a in node.args):
            return 0
        if name in _TRUTH_ASSERTS:
            return 1 if not (node.args and isinstance(node.args[0], ast.Compare)) else 2
        return 2
    return None


_SWALLOWS = frozenset({"AssertionError", "Exception", "BaseException"})


def _swallowed(fn: ast.AST) -> set[int]:
    """ids of nodes inside a ``try`` whose handler catches assertion failures (a bare
    ``except``, ``AssertionError``, ``Exception`` or ``BaseException``) and does not re-raise
    them: an assertion there can no longer fail the test."""
    out: set[int] = set()
    for node in ast.walk(fn):
        if not isinstance(node, (ast.Try, ast.TryStar)):
            continue
        for h in node.handlers:
            names = (
                {_tail(e) for e in h.type.elts}
                if isinstance(h.type, ast.Tuple)
                else {_tail(h.type) if h.type is not None else "BaseException"}
            )
            reraises = any(isinstance(n, ast.Raise) for st in h.body for n in ast.walk(st))
            if names & _SWALLOWS and not reraises:
                out.update(id(n) for st in node.body for n in ast.walk(st))
                break
    return out


def _assertions(fn: ast.AST, dead: frozenset[int] = frozenset()) -> tuple[int, int]:
    """(non-trivial assertions, total strength) in a test; assertions on lines no execution
    reaches (``dead``) or whose failure a handler swallows count as none."""
    swallowed = _swallowed(fn)
    strengths = [
        s
        for s in (
            _strength(n)
            for n in ast.walk(fn)
            if id(n) not in swallowed and getattr(n, "lineno", 0) - 1 not in dead
        )
        if s is not None
    ]
    return sum(1 for s in strengths if s > 0), sum(strengths)


def _constants(fn: ast.AST) -> Counter[str]:
    """The literal values a test holds (its docstring aside): an expected value edited to
    agree with the code is one gone; a refactor that moves cases into a table keeps them."""
    body = getattr(fn, "body", [])
    doc = (
        body[0].value
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
        else None
    )
    return Counter(
        f"{type(n.value).__name__}:{n.value!r}"
        for n in ast.walk(fn)
        if isinstance(n, ast.Constant) and n is not doc
    )


@lru_cache(maxsize=64)  # a warm daemon scores edits of the same file: its text before again
def _examples_of(text: str | None) -> dict[str, list[tuple[str, str]]] | None:
    """``_examples`` of a text, None when it does not parse (callers only read the answer)."""
    tree = _parse(text)
    return None if tree is None else _examples(tree)


def _examples(tree: ast.Module) -> dict[str, list[tuple[str, str]]]:
    """(source, expected output) of each docstring's examples, by qualname (``<module>`` too)."""
    out: dict[str, list[tuple[str, str]]] = {}
    parser = doctest.DocTestParser()

    def take(node: ast.AST, name: str) -> None:
        doc = ast.get_docstring(node, clean=True)  # type: ignore[arg-type]
        if doc:
            with_examples = [
                (e.source.strip(), e.want.strip()) for e in _safe_examples(parser, doc)
            ]
            if with_examples:
                out[name] = with_examples

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                take(node, prefix + node.name)
                if isinstance(node, ast.ClassDef):
                    walk(node.body, prefix + node.name + ".")

    take(tree, "<module>")
    walk(tree.body, "")
    return out


def _safe_examples(parser: doctest.DocTestParser, doc: str) -> list[doctest.Example]:
    try:
        return parser.get_examples(doc)
    except ValueError:  # a malformed example (bad indentation): none we can compare
        return []


def _test_config_changed(path: str, old: str | None, new: str | None) -> bool:
    name = PurePosixPath(path).name
    if name in _TEST_CONFIG:
        return old != new
    if name in _SHARED_CONFIG:
        return config_sections(old, _TEST_SECTION) != config_sections(new, _TEST_SECTION)
    return False


def weakened_tests(
    before: Mapping[str, str], after: Mapping[str, str], changed: Sequence[str]
) -> list[dict[str, str]]:
    """Each way the step made the tests say less: ``{"kind", "path", "name"}``, sorted.
    ``before``/``after`` hold the changed files' texts (absent: no such file)."""
    found: set[tuple[str, str, str]] = set()
    for path in sorted(set(changed)):
        old, new = before.get(path), after.get(path)
        name = PurePosixPath(path).name
        if _test_config_changed(path, old, new):
            found.add(("test-config-changed", path, name))
        elif (
            not path.endswith((".py", ".pyi"))
            and old is not None
            and old != new
            and any(part in {"tests", "test"} for part in PurePosixPath(path).parts[:-1])
        ):
            found.add(("test-data-changed", path, name))
        if (
            path.endswith(".py")
            and not is_test_path(path)
            and len(_UNDER_TEST.findall(new or "")) > len(_UNDER_TEST.findall(old or ""))
        ):
            found.add(("test-detection", path, name))
    # the examples of both states (remembered per text); None where a state does not parse.
    # Only test files need their trees.
    examples = {
        p: (_examples_of(before.get(p)), _examples_of(after.get(p)))
        for p in sorted(set(changed))
        if p.endswith(".py")
    }
    parsed = {
        p: (_parse(before.get(p)), _parse(after.get(p)))
        for p, (eb, ea) in examples.items()
        if eb is not None and ea is not None and is_test_path(p)
    }
    gained: set[str] = set()  # test names that appear in some changed test file (moves)
    for path, (b, a) in parsed.items():
        if b is not None and a is not None and is_test_path(path):
            gained |= {q.rsplit(".", 1)[-1] for q in _tests(a).keys() - _tests(b).keys()}
    for path, (eb, ea) in examples.items():
        if eb is None or ea is None:
            continue
        if path in parsed:
            b, a = parsed[path]
            assert b is not None and a is not None
            tb, ta = _tests(b), _tests(a)
            dead_b = unreachable_lines(before.get(path) or "")
            dead_a = unreachable_lines(after.get(path) or "")
            for name, (fn, cls) in tb.items():
                if name not in ta:
                    if name.rsplit(".", 1)[-1] not in gained:
                        found.add(("deleted-test", path, name))
                    continue
                fn2, cls2 = ta[name]
                if _skips(fn2) > _skips(fn):
                    found.add(("skip-added", path, name))
                if cls is not None and cls2 is not None and _skips_class(cls2) > _skips_class(cls):
                    found.add(("skip-added", path, cls.name))
                (nb, sb), (na, sa) = _assertions(fn, dead_b), _assertions(fn2, dead_a)
                if na < nb:
                    found.add(("assertion-removed", path, name))
                elif sa < sb:
                    found.add(("assertion-weakened", path, name))
                elif _constants(fn) - _constants(fn2):
                    found.add(("assertion-changed", path, name))
        for name, examples in eb.items():
            kept = ea.get(name, [])
            if len(kept) < len(examples):
                found.add(("doctest-example-removed", path, name))
            wants_before: dict[str, Counter[str]] = {}
            wants_after: dict[str, Counter[str]] = {}
            for source, want in examples:
                wants_before.setdefault(source, Counter())[want] += 1
            for source, want in kept:
                wants_after.setdefault(source, Counter())[want] += 1
            if any(src in wants_after and wants_after[src] != w for src, w in wants_before.items()):
                found.add(("doctest-expected-changed", path, name))
    return [
        {"kind": k, "path": p, "name": n}
        for k, p, n in sorted(found, key=lambda t: (t[1], t[2], t[0]))
    ]


def _skips_class(cls: ast.ClassDef) -> int:
    return sum(1 for d in cls.decorator_list if _tail(d) in _SKIP_NAMES)
