"""Workspace-wide commands with the real server skip a FIFO (with a reason) instead of hanging."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.conftest import copy_fixture, run_cli

pytestmark = pytest.mark.e2e


def test_diag_skips_a_fifo_and_a_huge_file(tmp_path: Path) -> None:
    ws = copy_fixture("ws_basic", tmp_path)
    os.mkfifo(ws / "evil.py")
    with (ws / "big.py").open("wb") as f:
        f.truncate(16 * 1024 * 1024 + 1)
    started = time.monotonic()
    result = run_cli("diag", "--json", "-w", str(ws), "--timeout", "60", cwd=ws, timeout=180)
    assert result.code == 0, result.err
    assert time.monotonic() - started < 150
    assert "evil.py: a FIFO" in result.err and "big.py: too large" in result.err
    bundle = json.loads(result.out)
    assert "evil.py" not in json.dumps(bundle["request"]["targets"])
