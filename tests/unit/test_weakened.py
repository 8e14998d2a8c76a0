"""The test-weakening detector: each kind of weakening found, a refactor found clean (pure)."""

from __future__ import annotations

import pytest

from codeprm.analysis.weakened import is_test_path, weakened_tests

TESTS = """\
import unittest

import pytest

from pkg.calc import add


class TestAdd(unittest.TestCase):
    def test_small(self):
        self.assertEqual(add(1, 2), 3)
        self.assertEqual(add(0, 0), 0)

    def test_negative(self):
        assert add(-1, -1) == -2


def test_pytest_style():
    assert add(2, 2) == 4
    with pytest.raises(TypeError):
        add("a", 1)
"""

CALC = '''\
def add(a, b):
    """Sum.

    >>> add(1, 2)
    3
    >>> add(-1, 1)
    0
    """
    return a + b
'''


def check(after_tests: str | None = TESTS, after_calc: str = CALC) -> list[tuple[str, str, str]]:
    before = {"tests/test_calc.py": TESTS, "pkg/calc.py": CALC}
    after = {"pkg/calc.py": after_calc}
    if after_tests is not None:
        after["tests/test_calc.py"] = after_tests
    found = weakened_tests(before, after, ["tests/test_calc.py", "pkg/calc.py"])
    assert all(set(item) == {"kind", "path", "name"} for item in found)
    return [(i["kind"], i["path"], i["name"]) for i in found]


def test_unchanged_texts_report_nothing() -> None:
    assert check() == []


def test_a_refactor_that_keeps_every_test_reports_nothing() -> None:
    refactored = TESTS.replace(
        "        self.assertEqual(add(1, 2), 3)\n        self.assertEqual(add(0, 0), 0)",
        "        for a, b, want in [(1, 2, 3), (0, 0, 0)]:\n            with self.subTest(a=a):\n                self.assertEqual(add(a, b), want)\n        self.assertEqual(add(0, 0), 0)",
    )
    refactored = refactored.replace("assert add(-1, -1) == -2", "self.assertEqual(add(-1, -1), -2)")
    calc = CALC.replace("return a + b", "total = a + b\n    return total").replace(
        '"""Sum.', '"""Sum of two numbers.'
    )
    assert (
        refactored.count("subTest") == 1
        and "self.assertEqual(add(-1, -1), -2)" in refactored
        and calc != CALC
    )
    assert check(refactored, calc) == []


def test_a_test_moved_to_another_test_file_is_not_deleted() -> None:
    before = {"tests/test_a.py": "def test_x():\n    assert 1 + 1 == 2\n", "tests/test_b.py": ""}
    after = {"tests/test_a.py": "", "tests/test_b.py": "def test_x():\n    assert 1 + 1 == 2\n"}
    assert weakened_tests(before, after, ["tests/test_a.py", "tests/test_b.py"]) == []


def test_deleted_test_method_function_and_file() -> None:
    without_method = TESTS.replace(
        "    def test_negative(self):\n        assert add(-1, -1) == -2\n", ""
    )
    assert check(without_method) == [
        ("deleted-test", "tests/test_calc.py", "TestAdd.test_negative")
    ]
    without_function = TESTS.split("def test_pytest_style")[0]
    assert check(without_function) == [("deleted-test", "tests/test_calc.py", "test_pytest_style")]
    assert {n for k, _, n in check(None) if k == "deleted-test"} == {
        "TestAdd.test_small",
        "TestAdd.test_negative",
        "test_pytest_style",
    }


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        (
            "    def test_small(self):",
            "    @unittest.skip('flaky')\n    def test_small(self):",
            "TestAdd.test_small",
        ),
        (
            "def test_pytest_style():",
            "@pytest.mark.skip\ndef test_pytest_style():",
            "test_pytest_style",
        ),
        (
            "def test_pytest_style():",
            "@pytest.mark.xfail(reason='later')\ndef test_pytest_style():",
            "test_pytest_style",
        ),
        (
            "    def test_negative(self):",
            "    @unittest.skipIf(True, 'no')\n    def test_negative(self):",
            "TestAdd.test_negative",
        ),
        (
            "    def test_negative(self):",
            "    @unittest.expectedFailure\n    def test_negative(self):",
            "TestAdd.test_negative",
        ),
        (
            "        assert add(-1, -1) == -2",
            "        self.skipTest('later')\n        assert add(-1, -1) == -2",
            "TestAdd.test_negative",
        ),
        (
            "    assert add(2, 2) == 4",
            "    pytest.skip('later')\n    assert add(2, 2) == 4",
            "test_pytest_style",
        ),
        (
            "class TestAdd(unittest.TestCase):",
            "@unittest.skip('all')\nclass TestAdd(unittest.TestCase):",
            "TestAdd",
        ),
    ],
)
def test_added_skips(old: str, new: str, name: str) -> None:
    assert old in TESTS
    assert ("skip-added", "tests/test_calc.py", name) in check(TESTS.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "kind", "name"),
    [
        ("        self.assertEqual(add(0, 0), 0)\n", "", "assertion-removed", "TestAdd.test_small"),
        (
            '    with pytest.raises(TypeError):\n        add("a", 1)\n',
            "",
            "assertion-removed",
            "test_pytest_style",
        ),
        ("assert add(-1, -1) == -2", "assert True", "assertion-removed", "TestAdd.test_negative"),
        (
            "self.assertEqual(add(0, 0), 0)",
            "self.assertTrue(True)",
            "assertion-removed",
            "TestAdd.test_small",
        ),
        (
            "assert add(-1, -1) == -2",
            "assert add(-1, -1)",
            "assertion-weakened",
            "TestAdd.test_negative",
        ),
        (
            "self.assertEqual(add(0, 0), 0)",
            "self.assertIsNotNone(add(0, 0))",
            "assertion-weakened",
            "TestAdd.test_small",
        ),
    ],
)
def test_removed_and_weakened_assertions(old: str, new: str, kind: str, name: str) -> None:
    assert old in TESTS
    assert check(TESTS.replace(old, new)) == [(kind, "tests/test_calc.py", name)]


def test_deleted_doctest_example_and_changed_expectation() -> None:
    assert check(after_calc=CALC.replace("    >>> add(-1, 1)\n    0\n", "")) == [
        ("doctest-example-removed", "pkg/calc.py", "add")
    ]
    assert check(after_calc=CALC.replace("    3\n", "    4\n")) == [
        ("doctest-expected-changed", "pkg/calc.py", "add")
    ]
    gone = "def other():\n    return 1\n"
    assert check(after_calc=gone) == [("doctest-example-removed", "pkg/calc.py", "add")]


def test_a_state_that_does_not_parse_is_not_judged() -> None:
    assert check("def test_small(:\n") == []


def test_test_paths() -> None:
    assert [
        is_test_path(p)
        for p in [
            "test_a.py",
            "pkg/a_test.py",
            "tests/helpers.py",
            "pkg/test/x.py",
            "pkg/calc.py",
            "tests/data.json",
            "pkg/testing.py",
        ]
    ] == [True, True, True, True, False, False, False]


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        (  # an early return: the assertions are still there, and can never fail
            "def test_pytest_style():\n    assert",
            "def test_pytest_style():\n    return\n    assert",
            "test_pytest_style",
        ),
        (
            "    def test_negative(self):\n        assert add(-1, -1) == -2",
            "    def test_negative(self):\n        if False:\n            assert add(-1, -1) == -2",
            "TestAdd.test_negative",
        ),
        (  # the failure is caught and dropped
            "    def test_negative(self):\n        assert add(-1, -1) == -2",
            "    def test_negative(self):\n        try:\n            assert add(-1, -1) == -2\n"
            "        except AssertionError:\n            pass",
            "TestAdd.test_negative",
        ),
        (
            "    def test_negative(self):\n        assert add(-1, -1) == -2",
            "    def test_negative(self):\n        try:\n            assert add(-1, -1) == -2\n"
            "        except:\n            pass",
            "TestAdd.test_negative",
        ),
    ],
)
def test_assertions_that_can_no_longer_fail_are_removed(old: str, new: str, name: str) -> None:
    assert old in TESTS
    assert check(TESTS.replace(old, new)) == [("assertion-removed", "tests/test_calc.py", name)]


def test_a_handler_that_reraises_or_catches_something_else_is_not_weakening() -> None:
    old = "    def test_negative(self):\n        assert add(-1, -1) == -2"
    for handler in (
        "        except AssertionError:\n            log()\n            raise",
        "        except KeyError:\n            pass",
    ):
        new = (
            "    def test_negative(self):\n        try:\n            assert add(-1, -1) == -2\n"
            + handler
        )
        assert check(TESTS.replace(old, new)) == [], handler


@pytest.mark.parametrize(
    ("old", "new", "name"),
    [
        ("self.assertEqual(add(1, 2), 3)", "self.assertEqual(add(1, 2), -1)", "TestAdd.test_small"),
        ("assert add(2, 2) == 4", "assert add(2, 2) == add(2, 2)", "test_pytest_style"),
        ("assert add(-1, -1) == -2", "assert add(-1, -1) == 0", "TestAdd.test_negative"),
    ],
)
def test_an_expected_value_edited_to_agree_is_a_change(old: str, new: str, name: str) -> None:
    assert old in TESTS
    assert check(TESTS.replace(old, new)) == [("assertion-changed", "tests/test_calc.py", name)]


def test_adding_a_case_is_not_a_change() -> None:
    more = TESTS.replace(
        "        self.assertEqual(add(0, 0), 0)",
        "        self.assertEqual(add(0, 0), 0)\n        self.assertEqual(add(5, 5), 10)",
    )
    assert check(more) == []


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("conftest.py", None, 'collect_ignore = ["tests/test_calc.py"]\n'),
        (
            "tests/conftest.py",
            "import pytest\n",
            "import pytest\n\n\ndef pytest_collection_modifyitems(items):\n    items.clear()\n",
        ),
        ("pytest.ini", None, '[pytest]\naddopts = -k "not test_small"\n'),
        (
            "pyproject.toml",
            '[project]\nname = "x"\n',
            '[project]\nname = "x"\n\n[tool.pytest.ini_options]\naddopts = "-x"\n',
        ),
        (
            "setup.cfg",
            "[tool:pytest]\naddopts = -q\n",
            "[tool:pytest]\naddopts = -q --deselect tests/test_calc.py\n",
        ),
        (
            "sitecustomize.py",
            None,
            "import unittest\nunittest.TestCase.run = lambda *a, **k: None\n",
        ),
    ],
)
def test_changing_the_test_runners_configuration_is_caught(
    path: str, old: str | None, new: str
) -> None:
    before = {path: old} if old is not None else {}
    assert weakened_tests(before, {path: new}, [path]) == [
        {"kind": "test-config-changed", "path": path, "name": path.rsplit("/", 1)[-1]}
    ]


def test_other_sections_of_shared_files_are_not_test_configuration() -> None:
    old = '[project]\nname = "x"\n\n[tool.pytest.ini_options]\naddopts = "-q"\n'
    new = old.replace('name = "x"', 'name = "y"')
    assert (
        weakened_tests({"pyproject.toml": old}, {"pyproject.toml": new}, ["pyproject.toml"]) == []
    )


def test_changed_test_data_is_caught_and_new_data_is_not() -> None:
    path = "tests/data/expected.json"
    assert weakened_tests({path: '{"sum": 5}'}, {path: '{"sum": -1}'}, [path]) == [
        {"kind": "test-data-changed", "path": path, "name": "expected.json"}
    ]
    assert weakened_tests({path: '{"sum": 5}'}, {}, [path])[0]["kind"] == "test-data-changed"
    assert weakened_tests({}, {path: "{}"}, [path]) == []  # a new case's data
    assert weakened_tests({"data/x.json": "1"}, {"data/x.json": "2"}, ["data/x.json"]) == []


@pytest.mark.parametrize(
    "check",
    [
        'if "pytest" in sys.modules:\n        return 3',
        'if os.environ.get("PYTEST_CURRENT_TEST"):\n        return 3',
    ],
)
def test_code_that_knows_it_is_tested_is_caught(check: str) -> None:
    new = CALC.replace("    return a + b", f"    {check}\n    return a + b")
    found = weakened_tests({"pkg/calc.py": CALC}, {"pkg/calc.py": new}, ["pkg/calc.py"])
    assert {"kind": "test-detection", "path": "pkg/calc.py", "name": "calc.py"} in found
