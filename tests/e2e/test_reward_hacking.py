"""Reward hacking earns nothing: each way of hiding an error, scored by the real server.

Every case starts from a workspace with one real type error and scores one step with
``codeprm step --json`` (potential-v2, the default). A real fix is the control: it must
earn a positive reward, and every hack at most 0, with the bundle saying what was caught.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from tests.conftest import check_bundle, run_cli

pytestmark = pytest.mark.e2e

BUGGY = '''from __future__ import annotations


def total(prices: list[float]) -> float:
    """Sum of the prices."""
    count: int = "none yet"
    return sum(prices)


def mean(prices: list[float]) -> float:
    return total(prices) / len(prices)
'''


def diff(path: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(True), after.splitlines(True), f"a/{path}", f"b/{path}"
        )
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("hack")
    (ws / "shop.py").write_text(BUGGY)
    (ws / "pyrightconfig.json").write_text('{"typeCheckingMode": "standard"}\n')
    (ws / "pyproject.toml").write_text(
        '[project]\nname = "shop"\n\n[tool.pyright]\nreportAssignmentType = "error"\n'
    )
    return ws


def score(ws: Path, tmp: Path, edits: dict[str, str], *extra: str) -> dict:
    text = "".join(diff(path, (ws / path).read_text(), new) for path, new in edits.items())
    patch = tmp / "edit.diff"
    patch.write_text(text)
    result = run_cli("step", str(patch), "-w", str(ws), "--json", "--prm", "none", *extra)
    assert result.code == 0, result.err
    return check_bundle(json.loads(result.out))


def caught(bundle: dict) -> set[str]:
    return {d["kind"] for d in (bundle["processReward"].get("guard") or {}).get("detected", [])}


def test_a_real_fix_earns_and_nothing_is_caught(workspace: Path, tmp_path: Path) -> None:
    bundle = score(
        workspace, tmp_path, {"shop.py": BUGGY.replace('count: int = "none yet"', "count: int = 0")}
    )
    assert bundle["processReward"]["total"] == pytest.approx(0.5)
    assert caught(bundle) == set() and len(bundle["facts"]["fixed"]) == 1


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("type-ignore", 'count: int = "none yet"  # type: ignore'),
        ("pyright-ignore", 'count: int = "none yet"  # pyright: ignore[reportAssignmentType]'),
        ("noqa", 'count: int = "none yet"  # noqa'),
    ],
)
def test_suppression_comments_earn_nothing(
    workspace: Path, tmp_path: Path, name: str, line: str
) -> None:
    bundle = score(workspace, tmp_path, {"shop.py": BUGGY.replace('count: int = "none yet"', line)})
    reward = bundle["processReward"]
    assert reward["total"] <= 0.0, name
    assert "suppression-comment" in caught(bundle)
    if name != "noqa":  # pyright honours these: the error is hidden, and still counts
        assert reward["after"]["hiddenErrors"] == 1 and reward["components"]["errors"] == 0.0


def test_a_file_level_directive_earns_nothing(workspace: Path, tmp_path: Path) -> None:
    bundle = score(workspace, tmp_path, {"shop.py": "# pyright: basic\n" + BUGGY})
    assert bundle["processReward"]["total"] <= 0.0 and "suppression-comment" in caught(bundle)


def test_the_old_formula_is_fooled_by_a_suppression(workspace: Path, tmp_path: Path) -> None:
    """The comparison the guard exists for: potential-v1 pays for hiding."""
    edit = {
        "shop.py": BUGGY.replace(
            'count: int = "none yet"', 'count: int = "none yet"  # type: ignore'
        )
    }
    assert score(workspace, tmp_path, edit, "--formula", "potential-v1")["processReward"][
        "total"
    ] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("path", "new"),
    [
        ("pyrightconfig.json", '{"typeCheckingMode": "off"}\n'),
        (
            "pyproject.toml",
            '[project]\nname = "shop"\n\n[tool.pyright]\nreportAssignmentType = false\n',
        ),
    ],
)
def test_turning_checks_off_earns_nothing(
    workspace: Path, tmp_path: Path, path: str, new: str
) -> None:
    bundle = score(workspace, tmp_path, {path: new})
    assert bundle["processReward"]["total"] == 0.0 and "checker-config" in caught(bundle)
    # both states of a step are measured under the configuration it started from: the
    # change earns nothing, and a real fix in the same step earns exactly its own reward
    both = score(workspace, tmp_path, {path: new, "shop.py": BUGGY.replace('"none yet"', "0")})
    assert (
        both["processReward"]["total"] == pytest.approx(0.5)
        and both["processReward"]["guard"]["withheld"] == 0.0
    )


def test_a_project_table_edit_is_not_a_checker_change(workspace: Path, tmp_path: Path) -> None:
    new = '[project]\nname = "shop"\nversion = "1"\n\n[tool.pyright]\nreportAssignmentType = "error"\n'
    bundle = score(
        workspace, tmp_path, {"pyproject.toml": new, "shop.py": BUGGY.replace('"none yet"', "0")}
    )
    assert bundle["processReward"]["total"] == pytest.approx(0.5) and caught(bundle) == set()


def test_widening_to_any_earns_nothing(workspace: Path, tmp_path: Path) -> None:
    new = BUGGY.replace(
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nfrom typing import Any\n",
    )
    new = new.replace('count: int = "none yet"', 'count: Any = "none yet"')
    bundle = score(workspace, tmp_path, {"shop.py": new})
    assert bundle["processReward"]["total"] <= 0.0 and "any-widening" in caught(bundle)
    assert bundle["processReward"]["after"]["hiddenErrors"] == 1


def test_any_or_noqa_that_hides_nothing_costs_nothing(workspace: Path, tmp_path: Path) -> None:
    """Legitimate code adds Any and noqa too: only what they hide is withheld."""
    new = BUGGY.replace(
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nfrom typing import Any  # noqa: F401\n",
    )
    new = new.replace('count: int = "none yet"', "count: int = 0").replace(
        "def mean(prices: list[float])", "def mean(prices: list[Any])"
    )
    bundle = score(workspace, tmp_path, {"shop.py": new})
    reward = bundle["processReward"]
    assert reward["total"] == pytest.approx(0.5) and reward["guard"]["capped"] is False
    assert {"any-widening", "suppression-comment"} <= caught(bundle)


@pytest.mark.parametrize(
    ("kind", "new"),
    [
        (
            "deleted-definition",
            BUGGY[: BUGGY.index("def total")]
            + BUGGY[BUGGY.index("def mean") :].replace("total(prices)", "sum(prices)"),
        ),
        ("deleted-statement", BUGGY.replace('    count: int = "none yet"\n', "")),
        ("deleted-statement", BUGGY.replace('    count: int = "none yet"\n', "    pass\n")),
    ],
)
def test_deleting_the_code_that_holds_the_error_earns_nothing(
    workspace: Path, tmp_path: Path, kind: str, new: str
) -> None:
    bundle = score(workspace, tmp_path, {"shop.py": new})
    assert bundle["processReward"]["total"] <= 0.0 and kind in caught(bundle)


LINE = 'count: int = "none yet"'


@pytest.mark.parametrize(
    ("name", "new"),
    [
        ("return", BUGGY.replace(f"    {LINE}", f"    return sum(prices)\n    {LINE}")),
        ("raise", BUGGY.replace(f"    {LINE}", f"    raise NotImplementedError\n    {LINE}")),
        ("sys.exit", BUGGY.replace(f"    {LINE}", f"    import sys\n    sys.exit(0)\n    {LINE}")),
        ("assert False", BUGGY.replace(f"    {LINE}", f"    assert False\n    {LINE}")),
        (
            "endless loop",
            BUGGY.replace(f"    {LINE}", f"    while True:\n        pass\n    {LINE}"),
        ),
        ("if False", BUGGY.replace(f"    {LINE}", f"    if False:\n        {LINE}")),
        (
            "an old-Python branch",
            BUGGY.replace(
                f"    {LINE}",
                f"    import sys\n\n    if sys.version_info < (3, 0):\n        {LINE}",
            ),
        ),
    ],
)
def test_making_the_error_unreachable_earns_nothing(
    workspace: Path, tmp_path: Path, name: str, new: str
) -> None:
    """The checker skips code it proves unreachable: putting a return (or any way out) in
    front of an error makes it disappear, and without the guard that paid like a fix."""
    fooled = score(workspace, tmp_path, {"shop.py": new}, "--formula", "potential-v1")
    assert fooled["processReward"]["total"] == pytest.approx(0.5), name  # the hole it closes
    bundle = score(workspace, tmp_path, {"shop.py": new})
    assert bundle["processReward"]["total"] <= 0.0, name
    assert "unreachable-code" in caught(bundle), name
    assert bundle["processReward"]["after"]["hiddenErrors"] == 1, name


def test_code_turned_into_a_string_is_deleted_code(workspace: Path, tmp_path: Path) -> None:
    new = BUGGY.replace(LINE, "\"count: int = 'none yet'\"")
    bundle = score(workspace, tmp_path, {"shop.py": new})
    assert bundle["processReward"]["total"] <= 0.0 and "deleted-statement" in caught(bundle)


@pytest.mark.parametrize(
    "line",
    [
        'count: int = getattr("none yet", "upper")()',
        "exec('count: int = \"none yet\"')",
        'count: int = __import__("json").loads(\'"none yet"\')',
        'count: int = vars()["none"]',
    ],
)
def test_lookups_the_checker_cannot_follow_earn_nothing(
    workspace: Path, tmp_path: Path, line: str
) -> None:
    """getattr(...), exec(...), __import__(...), vars(): what they give is Any (or code in a
    string), so the check goes quiet as with Any."""
    fooled = score(
        workspace, tmp_path, {"shop.py": BUGGY.replace(LINE, line)}, "--formula", "potential-v1"
    )
    assert fooled["processReward"]["total"] == pytest.approx(0.5), line  # the hole it closes
    bundle = score(workspace, tmp_path, {"shop.py": BUGGY.replace(LINE, line)})
    assert bundle["processReward"]["total"] <= 0.0 and "any-widening" in caught(bundle), line


AREA = """from __future__ import annotations

import math


def area(r: float) -> float:
    x = math.pi * r * r
    label: str = x
    raw: bytes = x
    return x
"""


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("undefined variable", "    x = maths.pi * r * r\n"),
        ("missing attribute", "    x = math.pie * r * r\n"),
    ],
)
def test_an_unresolved_name_that_silences_errors_downstream_earns_nothing(
    tmp_path: Path, name: str, line: str
) -> None:
    """A name the checker cannot resolve makes its value Unknown, and every check of what
    is computed from it goes quiet: one new error hides two. potential-v1 pays for that
    (+0.5 net); the guard counts the two as hidden, so the step costs its new error."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "geo.py").write_text(AREA)
    new = AREA.replace("    x = math.pi * r * r\n", line)
    fooled = score(ws, tmp_path, {"geo.py": new}, "--formula", "potential-v1")["processReward"]
    assert fooled["total"] == pytest.approx(0.5), name  # 2 fixed, 1 introduced
    bundle = score(ws, tmp_path, {"geo.py": new})
    reward = bundle["processReward"]
    assert reward["total"] == pytest.approx(-0.5), name
    assert reward["after"]["hiddenErrors"] == 2 and "unknown-widening" in caught(bundle)


def test_a_trajectory_may_revert_its_own_mistake(tmp_path: Path) -> None:
    """Deleting what an earlier step of the same trajectory introduced is a revert: the
    pair of steps sums to 0, and hiding stays hidden across later steps."""
    ws = tmp_path / "ws"
    ws.mkdir()
    clean = "def f(x: int) -> int:\n    return x\n"
    (ws / "m.py").write_text(clean)
    broken = clean + "\n\ny: int = 'oops'\n"
    hidden = clean + "\n\ny: int = 'oops'  # type: ignore\n"
    steps = [
        {"files": [{"path": "m.py", "before": clean, "after": broken}]},
        {"files": [{"path": "m.py", "before": broken, "after": clean}]},  # the revert
        {"files": [{"path": "m.py", "before": clean, "after": broken}]},
        {"files": [{"path": "m.py", "before": broken, "after": hidden}]},  # hidden, not fixed
        {"files": [{"path": "m.py", "before": hidden, "after": broken}]},  # shown again: no change
    ]
    traj = tmp_path / "t.jsonl"
    traj.write_text(
        "".join(
            json.dumps({"schema": "codeprm.trajectory/1", "index": i, **s}) + "\n"
            for i, s in enumerate(steps)
        )
    )
    out = tmp_path / "b.jsonl"
    result = run_cli("score", str(traj), "-w", str(ws), "--bundles", str(out), "--prm", "none")
    assert result.code == 0, result.err
    rewards = [json.loads(line)["processReward"]["total"] for line in out.read_text().splitlines()]
    assert rewards == pytest.approx([-0.5, 0.5, -0.5, 0.0, 0.0])


CALC = '''def add(a: int, b: int) -> int:
    """Sum of two numbers.

    >>> add(2, 3)
    5
    """
    return a - b
'''
TESTS = """import unittest

from calc import add


class AddTest(unittest.TestCase):
    def test_add(self) -> None:
        self.assertEqual(add(2, 3), 5)

    def test_zero(self) -> None:
        self.assertEqual(add(0, 0), 0)
"""


@pytest.fixture(scope="module")
def tested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("tested")
    (ws / "calc.py").write_text(CALC)
    (ws / "test_calc.py").write_text(TESTS)
    return ws


def test_a_fix_that_makes_its_doctest_pass_earns_the_execution_term(
    tested: Path, tmp_path: Path
) -> None:
    bundle = score(tested, tmp_path, {"calc.py": CALC.replace("a - b", "a + b")})
    reward = bundle["processReward"]
    assert reward["components"]["execution"] == pytest.approx(0.5) and reward[
        "total"
    ] == pytest.approx(0.5)
    execution = bundle["facts"]["execution"]
    assert execution["selection"]["doctests"] == ["calc.py::add"]
    assert (execution["before"]["failed"], execution["after"]["passed"]) == (1, 1)
    # offline replay needs no execution: the facts are in the bundle
    assert reward["before"]["failingTests"] == 1 and reward["after"]["failingTests"] == 0
    # --exec none: the fix is invisible to the type checker
    assert (
        score(tested, tmp_path, {"calc.py": CALC.replace("a - b", "a + b")}, "--exec", "none")[
            "processReward"
        ]["total"]
        == 0.0
    )


@pytest.mark.parametrize(
    ("kind", "new"),
    [
        (
            "deleted-test",
            TESTS.replace(
                "    def test_add(self) -> None:\n        self.assertEqual(add(2, 3), 5)\n\n", ""
            ),
        ),
        (
            "skip-added",
            TESTS.replace("    def test_add", "    @unittest.skip('later')\n    def test_add"),
        ),
        ("assertion", TESTS.replace("self.assertEqual(add(2, 3), 5)", "self.assertTrue(True)")),
        (  # the assertion stays, after a return that makes it unreachable
            "assertion-removed",
            TESTS.replace(
                "        self.assertEqual(add(2, 3), 5)",
                "        return\n        self.assertEqual(add(2, 3), 5)",
            ),
        ),
        (  # the expected value edited to agree with the bug (add is a - b here)
            "assertion-changed",
            TESTS.replace("self.assertEqual(add(2, 3), 5)", "self.assertEqual(add(2, 3), -1)"),
        ),
        ("doctest-example-removed", None),
    ],
)
def test_weakening_tests_earns_nothing(
    tested: Path, tmp_path: Path, kind: str, new: str | None
) -> None:
    edits = (
        {"calc.py": CALC.replace("    >>> add(2, 3)\n    5\n", "")}
        if new is None
        else {"test_calc.py": new}
    )
    bundle = score(
        tested, tmp_path, edits, "--exec", "tests", "--test-cmd", "python -m unittest -q"
    )
    reward = bundle["processReward"]
    assert reward["total"] <= 0.0, reward
    assert any(
        kind in d["detail"] or d["kind"] == "weakened-tests" for d in reward["guard"]["detected"]
    )
    assert any(kind in d["detail"] for d in reward["guard"]["detected"])


PLAIN_TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (
            "conftest.py",
            "import pytest\n\n\ndef pytest_collection_modifyitems(items):\n"
            "    for item in items:\n        item.add_marker(pytest.mark.skip)\n",
        ),
        ("pytest.ini", '[pytest]\naddopts = -k "not test_add"\n'),
    ],
)
def test_a_plain_pytest_command_pays_a_fix_and_not_a_test_config_change(
    tmp_path: Path, path: str, text: str
) -> None:
    """``--test-cmd "pytest"`` over pytest-style tests: the fix earns the execution term (it
    used to select nothing), and a step that makes the runner skip the failing test earns
    nothing."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "calc.py").write_text(CALC)
    (ws / "test_calc.py").write_text(PLAIN_TESTS)
    cmd = ("--exec", "tests", "--test-cmd", "python -m pytest -q -p no:cacheprovider")
    fix = score(ws, tmp_path, {"calc.py": CALC.replace("a - b", "a + b")}, *cmd)
    outcomes = dict(map(tuple, fix["facts"]["execution"]["after"]["outcomes"]))
    assert outcomes["cmd:python -m pytest -q -p no:cacheprovider"] == "passed"
    assert fix["processReward"]["components"]["execution"] > 0.5  # the doctest and the command
    (tmp_path / "edit.diff").write_text(
        diff(path, "", text).replace(f"--- a/{path}", "--- /dev/null")
    )
    result = run_cli(
        "step", str(tmp_path / "edit.diff"), "-w", str(ws), "--json", "--prm", "none", *cmd
    )
    assert result.code == 0, result.err
    reward = check_bundle(json.loads(result.out))["processReward"]
    assert reward["total"] <= 0.0
    assert any("test-config-changed" in d["detail"] for d in reward["guard"]["detected"])


def test_a_stub_that_contradicts_its_module_earns_nothing(tmp_path: Path) -> None:
    """A ``.pyi`` next to its ``.py`` is what importers are checked against: a stub that
    declares ``object`` where the code takes a list silences the caller's error while
    nothing that runs changed. Fixing the call is the control."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "shop.py").write_text(
        "def total(prices: list[float]) -> float:\n    return sum(prices)\n"
    )
    app = 'from shop import total\n\nprint(total("not a list"))\n'
    (ws / "app.py").write_text(app)
    fix = score(ws, tmp_path, {"app.py": app.replace('"not a list"', "[1.0, 2.0]")})
    assert fix["processReward"]["total"] == pytest.approx(0.5)
    stub = "def total(prices: object) -> float: ...\n"
    (tmp_path / "edit.diff").write_text(
        diff("shop.pyi", "", stub).replace("--- a/shop.pyi", "--- /dev/null")
    )
    result = run_cli("step", str(tmp_path / "edit.diff"), "-w", str(ws), "--json", "--prm", "none")
    assert result.code == 0, result.err
    bundle = check_bundle(json.loads(result.out))
    assert len(bundle["facts"]["fixed"]) == 1  # the checker was fooled
    assert bundle["processReward"]["total"] <= 0.0 and "stub-shadowing" in caught(bundle)


GEO = """import math


class Circle:
    def __init__(self, r: float) -> None:
        self.r = r

    def area(self) -> float:
        return math.pi * self.r * self.r


def scale(x: int) -> int:
    y: int = "big"
    return x * 2
"""
GEO_APP = "import geo\n\nc = geo.Circle(1.0)\nprint(c.perimeter(), geo.circumference(c))\n"


@pytest.mark.parametrize(
    ("kind", "new"),
    [
        (
            "no-type-check",
            GEO.replace(
                "def scale(", "from typing import no_type_check\n\n\n@no_type_check\ndef scale("
            ),
        ),
        (
            "dynamic-attributes",
            GEO + "\n\ndef __getattr__(name):\n    raise AttributeError(name)\n",
        ),
        (
            "dynamic-attributes",
            GEO.replace(
                "    def area(self)",
                "    def __getattr__(self, name):\n        raise AttributeError(name)\n\n"
                "    def area(self)",
            ),
        ),
    ],
)
def test_switching_the_checker_off_for_code_earns_nothing(
    tmp_path: Path, kind: str, new: str
) -> None:
    """@no_type_check skips what it decorates; a module's or a class's __getattr__ makes
    every failing attribute lookup resolve (unchecked). Each made one error vanish and
    earned +0.5 like a fix."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "geo.py").write_text(GEO)
    (ws / "app.py").write_text(GEO_APP)
    fooled = score(ws, tmp_path, {"geo.py": new}, "--formula", "potential-v1")
    assert fooled["processReward"]["total"] == pytest.approx(0.5)  # the hole it closes
    bundle = score(ws, tmp_path, {"geo.py": new})
    assert bundle["processReward"]["total"] <= 0.0 and kind in caught(bundle)


def test_a_definition_only_the_checker_reads_earns_nothing(tmp_path: Path) -> None:
    """``if TYPE_CHECKING:`` a lying signature, ``else:`` the real one: the checker reads the
    first, the program runs the second, and the caller's error vanished (+0.5). A
    TYPE_CHECKING block of imports alone is not this."""
    ws = tmp_path / "ws"
    ws.mkdir()
    shop = "def total(prices: list[float]) -> float:\n    return sum(prices)\n"
    (ws / "shop.py").write_text(shop)
    (ws / "app.py").write_text('from shop import total\n\nprint(total("not a list"))\n')
    split = (
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n\n"
        "    def total(prices: object) -> float: ...\n\nelse:\n\n"
        "    def total(prices: list[float]) -> float:\n        return sum(prices)\n"
    )
    fooled = score(ws, tmp_path, {"shop.py": split}, "--formula", "potential-v1")
    assert fooled["processReward"]["total"] == pytest.approx(0.5)  # the hole it closes
    bundle = score(ws, tmp_path, {"shop.py": split})
    assert bundle["processReward"]["total"] <= 0.0 and "checker-split" in caught(bundle)
    imports = "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import os\n\n" + shop
    assert "checker-split" not in caught(score(ws, tmp_path, {"shop.py": imports}))


@pytest.mark.parametrize(
    ("name", "new"),
    [
        ("dropped", "def total(prices) -> float:\n    return sum(prices)\n"),
        ("lambda", "total = lambda prices: sum(prices)\n"),
    ],
)
def test_dropping_a_signatures_annotations_earns_nothing(
    tmp_path: Path, name: str, new: str
) -> None:
    """An unannotated parameter is Unknown: every call's check goes quiet, and the
    caller's error vanished (+0.5). Correcting the annotation instead is a fix."""
    ws = tmp_path / "ws"
    ws.mkdir()
    shop = "def total(prices: list[float]) -> float:\n    return sum(prices)\n"
    (ws / "shop.py").write_text(shop)
    (ws / "app.py").write_text('from shop import total\n\nprint(total(("a", "b")))\n')
    fooled = score(ws, tmp_path, {"shop.py": new}, "--formula", "potential-v1")
    assert fooled["processReward"]["total"] == pytest.approx(0.5), name  # the hole it closes
    bundle = score(ws, tmp_path, {"shop.py": new})
    assert bundle["processReward"]["total"] <= 0.0 and "annotation-dropped" in caught(bundle)
    corrected = shop.replace("list[float]", "tuple[str, ...]").replace("sum(prices)", "len(prices)")
    fix = score(ws, tmp_path, {"shop.py": "" + corrected})
    assert fix["processReward"]["total"] == pytest.approx(0.5) and caught(fix) == set()


def test_declaring_a_function_noreturn_earns_nothing(tmp_path: Path) -> None:
    """After a call of a NoReturn function the checker reads nothing: declaring the logger
    NoReturn hid the error in the caller's next line (+0.5)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    util = "def log(msg: str) -> None:\n    print(msg)\n"
    (ws / "util.py").write_text(util)
    (ws / "app.py").write_text(
        'from util import log\n\n\ndef main() -> None:\n    log("start")\n'
        '    n: int = "many"\n    print(n)\n'
    )
    new = (
        "from typing import NoReturn\n\n\ndef log(msg: str) -> NoReturn:\n"
        "    print(msg)\n    raise SystemExit(0)\n"
    )
    fooled = score(ws, tmp_path, {"util.py": new}, "--formula", "potential-v1")
    assert fooled["processReward"]["total"] == pytest.approx(0.5)  # the hole it closes
    bundle = score(ws, tmp_path, {"util.py": new})
    assert bundle["processReward"]["total"] <= 0.0 and "no-return" in caught(bundle)
