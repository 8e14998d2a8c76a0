"""The commands without a TypeScript test of their own, on a copy of ws_ts with the real server.

The MCP tools (the server's Workbench, in process), ``trajectory import`` of a run that
edits .ts files (then ``score``), ``actions`` (the server's quick fix, and exit 72 from a
server without code actions) and ``locate`` of an AST path whose module is a file path.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, assert_clean_error, check_bundle, git, run_cli

pytestmark = pytest.mark.e2e

FAKE = Path(__file__).resolve().parents[1] / "fakes" / "push_lsp.py"

#: add() gains a parameter: its caller in cart.ts (Cart.total) breaks
BREAK = """--- a/src/money.ts
+++ b/src/money.ts
@@ -6,2 +6,2 @@
-export function add(a: Money, b: Money): Money {
+export function add(a: Money, b: Money, rate: number): Money {
   return { amount: a.amount + b.amount, currency: a.currency };
"""
#: a module that calls add() without importing it (TS 2304: Cannot find name 'add')
UNIMPORTED = (
    "export function twice(n: number): number {\n"
    '  return add({ amount: n, currency: "EUR" }, { amount: n, currency: "EUR" }).amount;\n'
    "}\n"
)


@pytest.fixture(scope="module", autouse=True)
def typescript_server() -> None:
    r = run_cli("servers", "install", "typescript", timeout=600)
    assert r.code == 0, r.err


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_ts", root)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    return root


# -- locate: AST paths with a module named by path ------------------------------------------


def test_locate_an_ast_path_in_a_typescript_module(ws: Path) -> None:
    r = run_cli("locate", "ast://[module=src/money.ts]/[def=add]", "-w", str(ws), "--json")
    assert r.code == 0, r.err
    resolution = check_bundle(json.loads(r.out))["resolution"]
    assert resolution["kind"] == "ast" and resolution["path"] == "src/money.ts"
    assert resolution["symbolId"] == "src/money.ts#add"
    # lines 6-8 (0-based 5-7): `export function add(...) { ... }`
    assert resolution["range"] == {
        "start": {"line": 5, "character": 0},
        "end": {"line": 7, "character": 1},
    }
    method = run_cli(
        "locate", "ast://[module=src/cart.ts]/[class=Cart]/[def=total]", "-w", str(ws), "--json"
    )
    assert method.code == 0, method.err
    assert json.loads(method.out)["resolution"]["range"]["start"] == {"line": 9, "character": 2}
    wrong_kind = run_cli("locate", "ast://[module=src/cart.ts]/[def=Cart]", "-w", str(ws))
    assert_clean_error(wrong_kind, 3, "[class=Cart]")


# -- the MCP tools ---------------------------------------------------------------------------


@pytest.fixture
def bench(ws: Path) -> Iterator[Any]:
    from codeprm.agents.mcp_server import Workbench

    b = Workbench(root=ws, load_prm=lambda: (None, "not used in this test"))
    try:
        yield b
    finally:
        b.close()


def test_mcp_diagnostics_score_and_rank_on_typescript(ws: Path, bench: Any) -> None:
    every = check_bundle(bench.diagnostics())
    assert every["environment"]["server"]["name"] == "typescript-go"
    assert every["facts"]["files"] == ["src/cart.ts", "src/money.ts", "src/unrelated.ts"]
    assert every["facts"]["counts"]["error"] == 0

    scored = check_bundle(bench.score_edit(BREAK))
    assert scored["processReward"]["total"] < 0
    [broke] = scored["facts"]["introduced"]
    assert (broke["path"], broke["code"], broke["enclosing"]) == (
        "src/cart.ts",
        "2554",
        "Cart.total",
    )
    assert "rate" not in (ws / "src/money.ts").read_text()  # scoring writes nothing

    cart = (ws / "src/cart.ts").read_text()
    ranked = bench.rank_edits(
        "src/cart.ts",
        [
            {"id": "break", "new_text": cart.replace("add(sum, m)", "add(sum)")},
            {"id": "respace", "new_text": cart.replace("const zero", "const  zero")},
        ],
        task="keep Cart.total type-checking",
    )
    assert [r["id"] for r in ranked] == ["respace", "break"]
    assert ranked[0]["reward"] == 0.0 and ranked[1]["reward"] < 0
    assert (ranked[0]["introduced"], ranked[1]["introduced"]) == (0, 1)
    assert (ws / "src/cart.ts").read_text() == cart

    located = bench.locate_tool("ts://src/money.ts#add")
    assert located["path"] == "src/money.ts" and located["range"]["start"]["line"] == 5


def test_mcp_rename_preview_then_apply_on_typescript(ws: Path, bench: Any) -> None:
    preview = bench.preview_rename("ts://src/money.ts#add", "plus")
    assert "+import { plus, format, type Money }" in preview["diff"]
    assert "+export function plus(" in preview["diff"]
    assert "add(" in (ws / "src/money.ts").read_text()  # a preview writes nothing

    applied = bench.apply_edit(BREAK)
    assert [f["path"] for f in applied["written"]["files"]] == ["src/money.ts"]
    assert "rate: number" in (ws / "src/money.ts").read_text()
    after = check_bundle(bench.diagnostics(["src/cart.ts"]))
    assert after["facts"]["counts"]["error"] == 1
    assert after["facts"]["diagnostics"][0]["message"] == "Expected 3 arguments, but got 2."

    from codeprm.errors import CodeprmError

    with pytest.raises(CodeprmError) as err:
        bench.locate_tool("ts://src/money.ts#nowhere")
    assert err.value.exit_code == 3


# -- trajectory import -----------------------------------------------------------------------


def _swe_agent_run(ws: Path, edits: list[tuple[str, str, str]]) -> dict[str, Any]:
    """A SWE-agent .traj: one entry per edit, each state holding the cumulative diff."""
    originals = {path: (ws / path).read_text() for path, _, _ in edits}
    entries = []
    for n, (path, old, new) in enumerate(edits):
        p = ws / path
        assert old in p.read_text()
        p.write_text(p.read_text().replace(old, new))
        diff = git(ws, "diff")
        entries.append(
            {
                "action": f"str_replace_editor str_replace /testbed/{path}",
                "observation": "",
                "thought": f"edit {n}",
                "state": {"working_dir": "/testbed", "diff": diff.strip()},
            }
        )
    for path, text in originals.items():  # the workspace is the run's starting state
        (ws / path).write_text(text)
    return {"trajectory": entries, "history": [], "info": {"submission": diff}}


def test_trajectory_import_of_typescript_edits_then_score(ws: Path, tmp_path: Path) -> None:
    run = _swe_agent_run(
        ws,
        [
            (
                "src/money.ts",
                "add(a: Money, b: Money): Money",
                "add(a: Money, b: Money, r: number): Money",
            ),
            ("src/cart.ts", "add(sum, m)", "add(sum, m, 1)"),
        ],
    )
    traj = tmp_path / "run.traj"
    traj.write_text(json.dumps(run), "utf-8")
    out = tmp_path / "run.jsonl"
    r = run_cli(
        "trajectory", "import", str(traj), "--from", "swe-agent", "-w", str(ws), "-o", str(out)
    )
    assert r.code == 0, r.err
    steps = [json.loads(line) for line in out.read_text().splitlines()]
    assert [[f["path"] for f in s["files"]] for s in steps] == [["src/money.ts"], ["src/cart.ts"]]
    assert "r: number" in steps[0]["files"][0]["after"]
    assert "add(sum, m, 1)" in steps[1]["files"][0]["after"]
    assert git(ws, "status", "--porcelain") == ""  # import reads the workspace, writes nothing

    scored = run_cli("score", str(out), "-w", str(ws), "--json")
    assert scored.code == 0, scored.err
    table = json.loads(scored.out)
    assert [(s["introduced"], s["fixed"]) for s in table["steps"]] == [(1, 0), (0, 1)]
    assert table["steps"][0]["reward"] < 0 < table["steps"][1]["reward"]


# -- actions ---------------------------------------------------------------------------------


def test_actions_offer_the_servers_import_fix(ws: Path) -> None:
    (ws / "src/twice.ts").write_text(UNIMPORTED)
    r = run_cli("actions", "src/twice.ts@L2:C11", "-w", str(ws), "--json")
    assert r.code == 0, r.err
    facts = check_bundle(json.loads(r.out))["facts"]
    assert [d["code"] for d in facts["diagnostics"]] == ["2304"]
    titles = [a["title"] for a in facts["actions"]]
    assert any(t.startswith('Add import from "./money') for t in titles), titles
    shown = run_cli("actions", "src/twice.ts@L2:C11", "-w", str(ws), "-v")
    assert shown.code == 0, shown.err
    assert '+import { add } from "./money' in shown.out
    assert (ws / "src/twice.ts").read_text() == UNIMPORTED  # listing writes nothing


def test_actions_exit_72_when_the_server_has_no_code_actions(ws: Path) -> None:
    r = run_cli(
        "actions",
        "src/cart.ts@L12:C49",
        "-w",
        str(ws),
        env={"CODEPRM_TYPESCRIPT_COMMAND": f"python {FAKE}"},
    )
    assert_clean_error(r, 72, "textDocument/codeAction")
