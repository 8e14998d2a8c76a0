"""TypeScript and JavaScript end to end: TypeScript 7's native server, real repositories.

The server is the pinned one codeprm installs into its cache (``codeprm servers install
typescript``, run once per session by the fixture; a no-op when it is cached).
"""

from __future__ import annotations

import difflib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, check_bundle, git, run_cli, tree

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session", autouse=True)
def typescript_server() -> None:
    r = run_cli("servers", "install", "typescript", timeout=600)
    assert r.code == 0, r.err


def _commit_steps(root: Path, steps: list[tuple[str, Callable[[Path], None]]]) -> Path:
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    for subject, change in steps:
        change(root)
        git(root, "commit", "-qam", subject)
    return root


def _edit(path: str, old: str, new: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        p = root / path
        text = p.read_text()
        assert old in text, (path, old)
        p.write_text(text.replace(old, new))

    return change


def _swap_functions(path: str) -> Callable[[Path], None]:
    """Move ``format`` above ``add``: the same code, another order."""

    def change(root: Path) -> None:
        p = root / path
        text = p.read_text()
        head, rest = (
            text.split("export function add", 1) if "/**" not in text else text.split("/**", 1)
        )
        if "/**" in text:  # JS: each function has its JSDoc block
            blocks = ["/**" + b for b in rest.split("/**")]
            p.write_text(head + blocks[1].rstrip("\n") + "\n\n" + blocks[0].rstrip("\n") + "\n")
        else:
            add, fmt = ("export function add" + rest).split("\n\n")
            p.write_text(head + fmt.rstrip("\n") + "\n\n" + add.rstrip("\n") + "\n")

    return change


TS_STEPS = [
    (
        "break: add takes a rate",
        _edit(
            "src/money.ts",
            "add(a: Money, b: Money): Money {\n  return { amount: a.amount + b.amount,",
            "add(a: Money, b: Money, rate: number): Money {\n  return { amount: (a.amount + b.amount) * rate,",
        ),
    ),
    ("move: format above add", _swap_functions("src/money.ts")),
    ("fix: pass the rate", _edit("src/cart.ts", "add(sum, m)", "add(sum, m, 1)")),
]
JS_STEPS = [
    (
        "break: add takes a rate",
        _edit(
            "src/money.js",
            " * @returns {{amount: number, currency: string}}\n */\nexport function add(a, b) {\n  return { amount: a.amount + b.amount,",
            " * @param {number} rate\n * @returns {{amount: number, currency: string}}\n */\nexport function add(a, b, rate) {\n  return { amount: (a.amount + b.amount) * rate,",
        ),
    ),
    ("move: format above add", _swap_functions("src/money.js")),
    ("fix: pass the rate", _edit("src/cart.js", "add(sum, m)", "add(sum, m, 1)")),
]


def _score(repo: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    out = repo.parent / "bundles.jsonl"
    r = run_cli(
        "score", "-w", str(repo), "--rev-range", "HEAD~3..HEAD", "--json", "--bundles", str(out)
    )
    assert r.code == 0, r.err
    return json.loads(r.out), [
        check_bundle(json.loads(line)) for line in out.read_text().splitlines()
    ]


@pytest.mark.parametrize(
    ("fixture", "steps", "importer", "enclosing"),
    [
        ("ws_ts", TS_STEPS, "src/cart.ts", "Cart.total"),
        ("ws_js", JS_STEPS, "src/cart.js", "Cart.total"),
    ],
)
def test_break_move_fix(
    tmp_path: Path, fixture: str, steps: list[Any], importer: str, enclosing: str
) -> None:
    repo = tmp_path / "ws"
    shutil.copytree(FIXTURES / fixture, repo)
    _commit_steps(repo, steps)
    before = tree(repo)
    summary, bundles = _score(repo)
    rewards = [s["reward"] for s in summary["steps"]]
    assert rewards[0] < 0 and rewards[1] == 0.0 and rewards[2] > 0, rewards
    introduced = bundles[0]["facts"]["introduced"]
    # the break is counted in the other module, inside the method that calls add
    assert [(d["path"], d["enclosing"]) for d in introduced] == [(importer, enclosing)], introduced
    assert bundles[1]["facts"]["introduced"] == [] and bundles[1]["facts"]["fixed"] == []
    assert len(bundles[2]["facts"]["fixed"]) == 1
    for b in bundles:
        servers = b["environment"]["servers"]
        assert [(s["language"], s["version"], s["diagnosticsMode"]) for s in servers] == [
            ("typescript", "7.0.2", "pull")
        ]
    assert tree(repo) == before


def test_step_and_diag_on_typescript(tmp_path: Path) -> None:
    repo = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_ts", repo)
    diff = "--- a/src/money.ts\n+++ b/src/money.ts\n@@ -5,3 +5,3 @@\n \n-export function add(a: Money, b: Money): Money {\n+export function add(a: Money, b: Money, rate: number): Money {\n   return { amount: a.amount + b.amount, currency: a.currency };\n"
    (tmp_path / "edit.diff").write_text(diff)
    r = run_cli("step", "-w", str(repo), str(tmp_path / "edit.diff"), "--json")
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    assert bundle["facts"]["covered"] == ["src/cart.ts", "src/money.ts"]
    assert [d["path"] for d in bundle["facts"]["introduced"]] == ["src/cart.ts"]
    assert bundle["processReward"]["total"] < 0
    # the same inputs give the same bundle bytes, in another process
    again = run_cli("step", "-w", str(repo), str(tmp_path / "edit.diff"), "--json")
    assert json.loads(again.out)["bundleId"] == bundle["bundleId"]
    d = run_cli("diag", "-w", str(repo), "--json")
    assert d.code == 0, d.err
    diag = check_bundle(json.loads(d.out))
    assert diag["facts"]["files"] == ["src/cart.ts", "src/money.ts", "src/unrelated.ts"]
    assert diag["facts"]["counts"]["error"] == 0


def _mixed_workspace(tmp_path: Path) -> Path:
    """Python (ws_basic) with a TypeScript project under web/."""
    repo = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", repo)
    shutil.copytree(FIXTURES / "ws_ts" / "src", repo / "web")
    (repo / "package.json").write_text('{"name": "mixed", "private": true, "type": "module"}\n')
    (repo / "tsconfig.json").write_text(
        (FIXTURES / "ws_ts" / "tsconfig.json").read_text().replace('"src"', '"web"')
    )
    return repo


def test_a_mixed_workspace_trace_replays_each_server_from_its_own_frames(
    tmp_path: Path,
) -> None:
    """Each language's session records its frames under its own mark (Python's unmarked,
    TypeScript's ``typescript-send``/``-recv``), so replay feeds each its own: one
    interleaved stream used to make the replayed Python session read TypeScript's answers
    (exit 72 where the trace said 0)."""
    repo = _mixed_workspace(tmp_path)
    money = (repo / "web/money.ts").read_text()
    geometry = (repo / "pkg/geometry.py").read_text()
    diff = "".join(
        line
        for path, old, new in [
            ("pkg/geometry.py", geometry, geometry.replace("width * height", "width * 2")),
            ("web/money.ts", money, money.replace("add(a: Money, b: Money)", "add(a: Money)")),
        ]
        for line in difflib.unified_diff(
            old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"
        )
    )
    (tmp_path / "edit.diff").write_text(diff)
    trace = tmp_path / "t.jsonl"
    r = run_cli(
        "step", str(tmp_path / "edit.diff"), "-w", str(repo), "--json", "--trace-file", str(trace)
    )
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    dirs = {json.loads(line).get("dir") for line in trace.read_text().splitlines()}
    assert {"send", "recv", "typescript-send", "typescript-recv"} <= dirs
    out = tmp_path / "replayed.jsonl"
    replayed = run_cli("trace", "replay", str(trace), "--out", str(out))
    assert replayed.code == 0, replayed.err
    assert [json.loads(line)["bundleId"] for line in out.read_text().splitlines()] == [
        bundle["bundleId"]
    ]


def test_mixed_python_and_typescript(tmp_path: Path) -> None:
    repo = _mixed_workspace(tmp_path)
    d = run_cli("diag", "-w", str(repo), "--json")
    assert d.code == 0, d.err
    diag = check_bundle(json.loads(d.out))
    assert {f.rsplit(".", 1)[1] for f in diag["facts"]["files"]} == {"py", "ts"}
    assert [s["language"] for s in diag["environment"]["servers"]] == ["python", "typescript"]
    assert diag["environment"]["server"]["name"] == "basedpyright"
    # one step breaking a caller in each language: both count, each from its own server
    diff = (
        "--- a/pkg/geometry.py\n+++ b/pkg/geometry.py\n@@ -1 +1 @@\n-"
        + (repo / "pkg/geometry.py").read_text().splitlines()[0]
        + "\n+"
        + (repo / "pkg/geometry.py").read_text().splitlines()[0]
        + "\n"
    )
    geometry = (repo / "pkg/geometry.py").read_text()
    money = (repo / "web/money.ts").read_text()
    edit = {
        "changes": {
            (repo / "pkg/geometry.py").as_uri(): [
                _replace_all(
                    geometry,
                    geometry.replace(
                        "def area(width: float, height: float)", "def area(width: float)"
                    ).replace("width * height", "width * width"),
                )
            ],
            (repo / "web/money.ts").as_uri(): [
                _replace_all(
                    money,
                    money.replace(
                        "add(a: Money, b: Money)", "add(a: Money, b: Money, rate: number)"
                    ),
                )
            ],
        }
    }
    del diff
    (tmp_path / "edit.json").write_text(json.dumps(edit))
    r = run_cli("step", "-w", str(repo), str(tmp_path / "edit.json"), "--json")
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    introduced = {d["path"] for d in bundle["facts"]["introduced"]}
    assert "web/cart.ts" in introduced and "pkg/app.py" in introduced, introduced
    assert [(s["language"], s["diagnosticsMode"]) for s in bundle["environment"]["servers"]] == [
        ("python", "pull"),
        ("typescript", "pull"),
    ]


def _replace_all(old: str, new: str) -> dict[str, Any]:
    lines = old.split("\n")
    return {
        "range": {
            "start": {"line": 0, "character": 0},
            "end": {"line": len(lines) - 1, "character": len(lines[-1])},
        },
        "newText": new,
    }


def test_navigation_and_selectors_on_typescript(tmp_path: Path) -> None:
    repo = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_ts", repo)

    def facts(*args: str) -> dict[str, Any]:
        r = run_cli(*args, "-w", str(repo), "--json")
        assert r.code == 0, r.err
        return check_bundle(json.loads(r.out))["facts"]

    add = {
        "path": "src/money.ts",
        "range": {"start": {"line": 5, "character": 16}, "end": {"line": 5, "character": 19}},
    }
    assert facts("def", 'anchor://src/cart.ts#"add(sum"')["locations"] == [add]
    assert facts("def", "ts://src/money.ts#add")["locations"] == [add]
    refs = facts("refs", "ts://src/money.ts#add")["locations"]
    assert sorted({r["path"] for r in refs}) == ["src/cart.ts", "src/money.ts"] and len(refs) == 3
    assert (
        "function add(a: Money, b: Money): Money"
        in facts("hover", "ts://src/money.ts#add")["hover"]["contents"]
    )
    assert [s["name"] for s in facts("symbols", "src/cart.ts")["symbols"]][-1] == "Cart"
    located = run_cli("locate", "ts://src/cart.ts#Cart.total", "-w", str(repo), "--json")
    assert located.code == 0, located.err
    assert "Cart.total" in located.out


def test_a_missing_capability_exits_72_with_one_line(tmp_path: Path) -> None:
    repo = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_c", repo)
    fake = Path(__file__).resolve().parents[1] / "fakes" / "push_lsp.py"
    r = run_cli(
        "def", "main.c@L4:C12", "-w", str(repo), env={"CODEPRM_CLANGD_COMMAND": f"python {fake}"}
    )
    assert r.code == 72 and r.err.strip().count("\n") == 0, r.err
    assert "does not offer textDocument/definition" in r.err


def test_a_monorepo_with_a_tsconfig_per_package(tmp_path: Path) -> None:
    """Every tsconfig project is loaded: references and breakage cross package borders."""
    repo = tmp_path / "mono"
    for pkg in ("core", "app"):
        (repo / "packages" / pkg / "src").mkdir(parents=True)
        (repo / "packages" / pkg / "tsconfig.json").write_text(
            '{"compilerOptions": {"strict": true, "module": "nodenext", "target": "es2022", "noEmit": true, "types": []}, "include": ["src"]}\n'
        )
    (repo / "package.json").write_text('{"private": true, "workspaces": ["packages/*"]}\n')
    (repo / "packages/core/src/price.ts").write_text(
        "export function price(n: number): number { return n * 2; }\n"
    )
    (repo / "packages/app/src/main.ts").write_text(
        'import { price } from "../../core/src/price.js";\nexport const total: number = price(3);\n'
    )
    r = run_cli("refs", "ts://packages/core/src/price.ts#price", "-w", str(repo), "--json")
    assert r.code == 0, r.err
    assert [loc["path"] for loc in json.loads(r.out)["facts"]["locations"]] == [
        "packages/app/src/main.ts",
        "packages/app/src/main.ts",
        "packages/core/src/price.ts",
    ]
    (tmp_path / "e.diff").write_text(
        "--- a/packages/core/src/price.ts\n+++ b/packages/core/src/price.ts\n@@ -1 +1 @@\n"
        "-export function price(n: number): number { return n * 2; }\n+export function price(n: string): number { return n.length; }\n"
    )
    s = run_cli("step", str(tmp_path / "e.diff"), "-w", str(repo), "--json")
    assert s.code == 0, s.err
    facts = check_bundle(json.loads(s.out))["facts"]
    assert facts["covered"] == ["packages/app/src/main.ts", "packages/core/src/price.ts"]
    assert [d["path"] for d in facts["introduced"]] == ["packages/app/src/main.ts"]


def test_a_ts_ignore_hides_instead_of_fixing(tmp_path: Path) -> None:
    """The guard reads TS: a break hidden by ``// @ts-ignore`` earns nothing (the break is still counted)."""
    repo = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_ts", repo)
    money = repo / "src/money.ts"
    money.write_text(
        money.read_text().replace(
            "add(a: Money, b: Money)", "add(a: Money, b: Money, rate: number)"
        )
    )
    cart = (repo / "src/cart.ts").read_text()
    hidden = cart.replace("    return format(", "    // @ts-ignore\n    return format(")
    (tmp_path / "e.diff").write_text(_diff("src/cart.ts", cart, hidden))
    r = run_cli("step", "-w", str(repo), str(tmp_path / "e.diff"), "--json")
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    guard = bundle["processReward"]["guard"]
    assert [d["kind"] for d in guard["detected"]] == ["suppression-comment"] and guard["hidden"], (
        guard
    )
    assert bundle["processReward"]["total"] <= 0


def _diff(path: str, old: str, new: str) -> str:
    import difflib

    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )


def test_typescript_file_sets_are_measured_as_the_state_has_them(tmp_path: Path) -> None:
    """The TypeScript server reads a closed document's disk copy: a step deleting a module
    its importers use earned nothing (a gaming vector), as it did in Python before the
    scratch mirror. The mirror now holds TS/JS too: deleting costs the importer's new
    error, creating a module and importing it costs nothing, and a trace replays."""
    repo = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_ts", repo)
    before = tree(repo)
    money = (repo / "src/money.ts").read_text()
    deleted = "".join(
        difflib.unified_diff(money.splitlines(True), [], "a/src/money.ts", "b/src/money.ts")
    )
    deleted = deleted.replace("+++ b/src/money.ts", "+++ /dev/null")
    (tmp_path / "del.diff").write_text(deleted)
    r = run_cli("step", str(tmp_path / "del.diff"), "-w", str(repo), "--json")
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    assert bundle["processReward"]["total"] == pytest.approx(-0.5)
    assert [d["path"] for d in bundle["facts"]["introduced"]] == ["src/cart.ts"]
    rates = 'export function rate(currency: string): number {\n  return currency === "EUR" ? 1.1 : 1.0;\n}\n'
    created = "".join(
        difflib.unified_diff([], rates.splitlines(True), "a/src/rates.ts", "b/src/rates.ts")
    )
    created = created.replace("--- a/src/rates.ts", "--- /dev/null")
    uses = (
        money.replace(
            "export interface Money", 'import { rate } from "./rates.js";\n\nexport interface Money'
        )
        + "\nexport function inDollars(m: Money): number {\n  return m.amount * rate(m.currency);\n}\n"
    )
    created += "".join(
        difflib.unified_diff(
            money.splitlines(True), uses.splitlines(True), "a/src/money.ts", "b/src/money.ts"
        )
    )
    (tmp_path / "new.diff").write_text(created)
    trace = tmp_path / "t.jsonl"
    r = run_cli(
        "step", str(tmp_path / "new.diff"), "-w", str(repo), "--json", "--trace-file", str(trace)
    )
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    assert bundle["processReward"]["total"] == 0.0 and bundle["facts"]["introduced"] == []
    dirs = {json.loads(line).get("dir") for line in trace.read_text().splitlines()}
    assert "shadow-typescript-send" in dirs  # measured by the mirror's TypeScript server
    out = tmp_path / "replayed.jsonl"
    replayed = run_cli("trace", "replay", str(trace), "--out", str(out))
    assert replayed.code == 0, replayed.err
    assert [json.loads(line)["bundleId"] for line in out.read_text().splitlines()] == [
        bundle["bundleId"]
    ]
    assert tree(repo) == before  # the workspace was only read
