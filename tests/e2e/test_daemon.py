"""The warm daemon: same answers as in-process, used automatically, clean fallback when killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, assert_clean_error, check_bundle, run_cli

pytestmark = pytest.mark.e2e

LINES = ["value = 1", "value = undefined_a", "from pkg.geometry import area as _a", "_b: int = 'text'", "def _f() -> int:\n    return missing_b"]


def edits(ws: Path, n: int) -> list[Path]:
    """n distinct diffs against pkg/app.py, some adding errors, some not."""
    original = (ws / "pkg/app.py").read_text()
    out = []
    for i in range(n):
        added = LINES[i % len(LINES)].replace("value", f"value_{i}") + "\n"
        diff = ["--- a/pkg/app.py", "+++ b/pkg/app.py", f"@@ -6,0 +7,{added.count(chr(10))} @@"]
        diff += ["+" + line for line in added.splitlines()]
        path = ws.parent / f"edit{i}.diff"
        path.write_text("\n".join(diff) + "\n")
        assert original.count("\n") == 6
        out.append(path)
    return out


@pytest.fixture
def ws(tmp_path: Path):
    root = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", root)
    yield root
    run_cli("daemon", "stop", "-w", str(root))


def test_daemon_answers_like_in_process_and_falls_back_when_killed(ws: Path) -> None:
    from codeprm.analysis.navigate import Analyzer
    from codeprm.analysis.step import StepEngine, score_edit

    diffs = edits(ws, 20)
    with Analyzer(root=ws) as an:
        engine = StepEngine(an)
        expected = [score_edit(engine, d.read_text()).bundle for d in diffs]
    started = run_cli("daemon", "start", "-w", str(ws), "--json", "--idle-timeout", "300")
    assert started.code == 0, started.err
    pid = json.loads(started.out)["pid"]
    for diff, want in zip(diffs, expected, strict=True):
        r = run_cli("step", str(diff), "-w", str(ws), "--json")
        assert r.code == 0, r.err
        got = check_bundle(json.loads(r.out))
        assert got["bundleId"] == want["bundleId"]
        assert got["processReward"] == want["processReward"]
    status = json.loads(run_cli("daemon", "status", "-w", str(ws), "--json").out)
    assert status["served"] == 20 and status["pid"] == pid and len(status["servers"]) == 1
    # an edit made behind the daemon's back (an editor) is seen by the next call
    app = ws / "pkg/app.py"
    app.write_text(app.read_text() + "broken_here\n")
    diag = json.loads(run_cli("diag", "pkg/app.py", "-w", str(ws), "--json").out)
    assert any("broken_here" in d["message"] for d in diag["facts"]["diagnostics"])
    app.write_text(app.read_text().replace("broken_here\n", ""))
    # kill it: the CLI falls back to running in-process, silently and correctly
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    r = run_cli("step", str(diffs[1]), "-w", str(ws), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["bundleId"] == expected[1]["bundleId"]
    assert r.err == ""
    stopped = run_cli("daemon", "stop", "-w", str(ws), "--json")
    assert stopped.code == 0 and json.loads(stopped.out)["stale"] is True
    assert_clean_error(run_cli("daemon", "status", "-w", str(ws)), 3, "no daemon")


def test_daemon_errors_keep_exit_codes_and_stop_cleanly(ws: Path) -> None:
    assert run_cli("daemon", "start", "-w", str(ws), "--idle-timeout", "300").code == 0
    assert_clean_error(run_cli("diag", "pkg/none.py", "-w", str(ws)), 3, "no such file")
    again = run_cli("daemon", "start", "-w", str(ws), "--json")
    assert json.loads(again.out)["alreadyRunning"] is True
    assert run_cli("daemon", "stop", "-w", str(ws)).code == 0
    assert not (ws / ".codeprm" / "daemon.json").exists()
