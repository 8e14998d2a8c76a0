"""``codeprm mcp`` driven by the MCP SDK's own client over stdio, on a git copy of ws_basic.

One server serves the whole module (one warm language server, as an agent would use it):
the fixture runs a scripted session and records every reply; the tests read the record.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BREAK, FIXTURES, REPO, check_bundle, git

mcp = pytest.importorskip("mcp")

FIX = """--- a/pkg/broken.py
+++ b/pkg/broken.py
@@ -5 +5 @@
-    return area(1.0, 2.0) + missing_name
+    return area(1.0, 2.0)
"""
BROKEN = (FIXTURES / "ws_basic/pkg/broken.py").read_text("utf-8")

#: (label, tool, arguments): the scripted session, in order.
SESSION: list[tuple[str, str, dict[str, Any]]] = [
    ("diag_all", "diagnostics", {}),
    ("diag_one", "diagnostics", {"files": ["pkg/app.py"]}),
    ("locate", "locate", {"selector": "py://pkg.geometry#area"}),
    ("bad_selector", "locate", {"selector": "py://pkg.geometry#@@"}),
    ("no_such_symbol", "locate", {"selector": "py://pkg.geometry#nowhere"}),
    (
        "rank",
        "rank_edits",
        {
            "file": "pkg/broken.py",
            "task": "make total() type-check",
            "candidates": [
                {"id": "break", "new_text": BROKEN.replace("area(1.0, 2.0)", "area(1.0)")},
                {"id": "fix", "diff": FIX},
                {"id": "both", "new_text": BROKEN, "diff": FIX},
            ],
        },
    ),
    ("score", "score_edit", {"edit": BREAK}),
    ("rename", "preview_rename", {"selector": "py://pkg.geometry#area", "new_name": "surface"}),
    ("rename_clash", "preview_rename", {"selector": "py://pkg.geometry#area", "new_name": "Point"}),
    ("apply", "apply_edit", {"edit": FIX}),
    ("diag_after_apply", "diagnostics", {}),
    ("apply_dirty", "apply_edit", {"edit": BREAK}),
    ("apply_dirty_allowed", "apply_edit", {"edit": BREAK, "allow_dirty": True}),
]


async def _session(ws: Path, errlog: Any) -> dict[str, Any]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "codeprm", "mcp", "-w", str(ws), "--prm", "none"],
        env={"CODEPRM_NO_DAEMON": "1", "PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "")},
        cwd=str(ws),
    )
    stream_errors: list[Any] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, Exception):  # anything on stdout that is not protocol lands here
            stream_errors.append(message)

    record: dict[str, Any] = {}
    async with (
        stdio_client(params, errlog=errlog) as (read, write),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        record["init"] = await session.initialize()
        record["tools"] = (await session.list_tools()).tools
        for label, tool, arguments in SESSION:
            record[label] = await session.call_tool(tool, arguments)
    record["stream_errors"] = stream_errors
    return record


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    import anyio

    ws = tmp_path_factory.mktemp("mcp") / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    git(ws, "init", "-q")
    git(ws, "add", "-A")
    git(ws, "commit", "-qm", "base")
    errlog = ws.parent / "server.stderr"
    with errlog.open("w") as err:
        record = anyio.run(_session, ws, err)
    return ws, record, errlog.read_text()


def ok(record: dict[str, Any], label: str) -> Any:
    result = record[label]
    assert not result.is_error, result.content
    assert result.structured_content is not None
    # the text content carries the same JSON, for clients that ignore structured output
    assert json.loads(result.content[0].text) is not None
    return result.structured_content


def error_text(record: dict[str, Any], label: str) -> str:
    result = record[label]
    assert result.is_error, result.structured_content
    return result.content[0].text


pytestmark = pytest.mark.e2e


def test_lists_the_tools_with_their_schemas(served: tuple[Path, dict[str, Any], str]) -> None:
    _, record, _ = served
    assert record["init"].server_info.name == "codeprm"
    tools = {t.name: t for t in record["tools"]}
    assert sorted(tools) == [
        "apply_edit",
        "diagnostics",
        "locate",
        "preview_rename",
        "rank_edits",
        "score_edit",
    ]
    assert tools["rank_edits"].input_schema["required"] == ["file", "candidates"]
    assert tools["apply_edit"].annotations.destructive_hint is True
    assert tools["score_edit"].annotations.read_only_hint is True
    assert all(t.output_schema for t in tools.values())


def test_diagnostics_and_locate(served: tuple[Path, dict[str, Any], str]) -> None:
    _, record, _ = served
    diag = check_bundle(ok(record, "diag_all"))
    assert diag["facts"]["counts"]["error"] == 1
    assert [d["path"] for d in diag["facts"]["diagnostics"]] == ["pkg/broken.py"]
    one = check_bundle(ok(record, "diag_one"))
    assert one["request"]["targets"] == ["pkg/app.py"] and one["facts"]["diagnostics"] == []
    loc = ok(record, "locate")
    assert (loc["path"], loc["kind"], loc["confidence"]) == ("pkg/geometry.py", "symbol", 1.0)
    assert loc["range"]["start"] == {"line": 16, "character": 0}


def test_errors_are_tool_errors_with_exit_codes_and_the_server_keeps_serving(
    served: tuple[Path, dict[str, Any], str],
) -> None:
    _, record, stderr = served
    assert "bad selector at column" in error_text(
        record, "bad_selector"
    ) and "(exit 2)" in error_text(record, "bad_selector")
    assert "(exit 3)" in error_text(record, "no_such_symbol")
    assert "(exit 70)" in error_text(record, "rename_clash")
    # every call after the failures was answered by the same server
    assert not record["rank"].is_error and not record["diag_after_apply"].is_error
    assert record["stream_errors"] == []  # nothing but protocol on stdout
    assert "Traceback" not in stderr


def test_rank_edits_returns_the_rank_json_list(served: tuple[Path, dict[str, Any], str]) -> None:
    _, record, _ = served
    ranked = ok(record, "rank")["result"]
    assert [r["id"] for r in ranked] == ["fix", "break", "both"]
    fix, brk, both = ranked
    assert fix["reward"] > 0 > brk["reward"]
    assert (fix["fixed"], brk["introduced"]) == (1, 1)
    assert "prm" not in fix["components"]  # --prm none
    assert (
        both["reward"] is None
        and both["error"]["exitCode"] == 2
        and "exactly one of new_text or diff" in both["error"]["message"]
    )


def test_score_edit_and_preview_rename_write_nothing(
    served: tuple[Path, dict[str, Any], str],
) -> None:
    ws, record, _ = served
    step = check_bundle(ok(record, "score"))
    assert step["processReward"]["total"] == pytest.approx(-1.0)
    assert sorted(d["path"] for d in step["facts"]["introduced"]) == ["pkg/app.py", "pkg/broken.py"]
    rename = ok(record, "rename")
    check_bundle(rename["bundle"])
    assert [e["path"] for e in rename["bundle"]["edits"]] == [
        "pkg/app.py",
        "pkg/broken.py",
        "pkg/geometry.py",
    ]
    assert (
        "+def surface(" in rename["diff"] and rename["diff"].count("+from pkg.geometry import") == 2
    )
    assert "surface" not in (ws / "pkg/geometry.py").read_text() + (ws / "pkg/app.py").read_text()


def test_apply_edit_writes_and_later_answers_see_it(
    served: tuple[Path, dict[str, Any], str],
) -> None:
    ws, record, _ = served
    applied = ok(record, "apply")
    assert [f["path"] for f in applied["written"]["files"]] == ["pkg/broken.py"]
    assert applied["bundle"]["facts"]["fixed"] and "--- a/pkg/broken.py" in applied["diff"]
    assert check_bundle(ok(record, "diag_after_apply"))["facts"]["counts"]["error"] == 0
    # the tree is dirty now: a second write needs allow_dirty
    assert "(exit 71)" in error_text(record, "apply_dirty")
    assert not record["apply_dirty_allowed"].is_error
    assert "def area(width: float) -> float:" in (ws / "pkg/geometry.py").read_text()


def test_the_prm_is_loaded_once_on_the_first_ranking_only(tmp_path: Path) -> None:
    from codeprm.agents.mcp_server import Workbench

    calls: list[int] = []

    def load() -> tuple[Any, str | None]:
        calls.append(1)
        return None, "not fetched"

    bench = Workbench(root=tmp_path, load_prm=load)
    assert calls == []
    assert bench.scorer() is None and bench.scorer() is None
    assert calls == [1]


def _children(pid: int) -> list[str]:
    """Child process ids (Linux /proc; empty elsewhere): any thread may have started one."""
    return (
        [
            c
            for task in Path(f"/proc/{pid}/task").glob("*")
            for c in (task / "children").read_text().split()
        ]
        if Path("/proc").is_dir()
        else []
    )


def test_sigterm_stops_the_server_and_its_language_server(tmp_path: Path) -> None:
    import signal

    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    env = {**os.environ, "CODEPRM_NO_DAEMON": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "codeprm", "mcp", "-w", str(ws), "--prm", "none"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def ask(message: dict[str, Any]) -> dict[str, Any] | None:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps({"jsonrpc": "2.0", **message}) + "\n").encode())
        proc.stdin.flush()
        return (
            json.loads(proc.stdout.readline()) if "id" in message else None
        )  # stdout holds JSON-RPC only

    try:
        ask(
            {
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "test", "version": "0"},
                },
            }
        )
        ask({"method": "notifications/initialized"})
        reply = ask(
            {
                "id": 2,
                "method": "tools/call",
                "params": {"name": "diagnostics", "arguments": {"files": ["pkg/broken.py"]}},
            }
        )
        assert (
            reply is not None
            and reply["result"]["structuredContent"]["facts"]["counts"]["error"] == 1
        )
        children = _children(proc.pid)
        assert children or not Path("/proc").is_dir()  # the language server runs
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 128 + signal.SIGTERM
        assert all(
            not Path(f"/proc/{pid}").exists()
            or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
            for pid in children
        )
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()


def test_a_hung_tool_call_is_cancelled_and_the_next_call_answered(tmp_path: Path) -> None:
    import threading
    import time

    from codeprm.agents.mcp_server import Workbench
    from codeprm.errors import CancelledError, CodeprmError

    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    before = (ws / "pkg/app.py").read_text()
    hang = '--- /dev/null\n+++ b/pkg/spin.py\n@@ -0,0 +1,7 @@\n+def spin() -> None:\n+    """Never returns.\n+\n+    >>> spin()\n+    """\n+    while True:\n+        pass\n'  # its doctest never returns
    bench = Workbench(root=ws, timeout=30)
    try:
        assert bench.diagnostics(["pkg/broken.py"])["facts"]["counts"]["error"] == 1  # warm
        bench.budget = 3.0
        failed: list[CodeprmError] = []

        def apply() -> None:
            try:
                bench.score_edit(hang)
            except CodeprmError as err:
                failed.append(err)

        thread = threading.Thread(target=apply)
        thread.start()
        time.sleep(0.3)
        began = time.monotonic()
        answer = bench.diagnostics(["pkg/broken.py"])  # waits for the hung call's budget, no longer
        assert time.monotonic() - began < 10
        thread.join(10)
        assert check_bundle(answer)["facts"]["counts"]["error"] == 1
        assert (
            len(failed) == 1 and isinstance(failed[0], CancelledError) and failed[0].exit_code == 73
        )
        assert "score_edit ran past its time budget of 3s" in str(failed[0])
        assert (ws / "pkg/app.py").read_text() == before
    finally:
        bench.close()


def test_over_the_protocol_a_hung_call_does_not_stop_the_next_one(tmp_path: Path) -> None:
    import time

    import anyio
    from mcp import ClientSession, StdioServerParameters, stdio_client

    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    hang = '--- /dev/null\n+++ b/pkg/spin.py\n@@ -0,0 +1,7 @@\n+def spin() -> None:\n+    """Never returns.\n+\n+    >>> spin()\n+    """\n+    while True:\n+        pass\n'  # its doctest never returns
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "codeprm", "mcp", "-w", str(ws), "--prm", "none", "--call-budget", "3"],
        env={"CODEPRM_NO_DAEMON": "1", "PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "")},
        cwd=str(ws),
    )
    got: dict[str, Any] = {}

    async def run() -> None:
        with (tmp_path / "server.stderr").open("w") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                await session.call_tool("locate", {"selector": "py://pkg.geometry#area"})

                async def call(label: str, tool: str, arguments: dict[str, Any]) -> None:
                    got[label] = await session.call_tool(tool, arguments)
                    got[label + "_at"] = time.monotonic()

                began = time.monotonic()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(call, "apply", "score_edit", {"edit": hang})
                    await anyio.sleep(0.3)
                    tg.start_soon(call, "locate", "locate", {"selector": "py://pkg.geometry#Point"})
                got["began"] = began

    anyio.run(run)
    text = error_text(got, "apply")
    assert "score_edit ran past its time budget of 3s" in text and text.endswith("(exit 73)")
    assert ok(got, "locate")["path"] == "pkg/geometry.py"
    assert got["locate_at"] - got["began"] < 15
