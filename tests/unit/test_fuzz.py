"""Fuzz every input codeprm parses: no internal error (exit 1) and no hang, ever.

Over 2,000 generated cases (see ``tests/fuzz_targets.py``: selectors, diffs, WorkspaceEdits,
trajectory steps, bundles, traces and batch lines), run in-process against a workspace
holding a FIFO, a binary, a 16 MiB+1 and a looping file; a few go through the CLI. The
seed is fixed (``derandomize``) so CI sees the same cases every run.
``benchmarks/fuzz.py`` runs the long version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import run_cli
from tests.fuzz_targets import Target, Workspace, outcome, targets

RUNS: Counter[str] = Counter()
FAKE_LSP = Path(__file__).resolve().parents[1] / "fakes" / "fake_lsp.py"


@pytest.fixture(scope="module")
def ws() -> Iterator[Workspace]:
    workspace = Workspace.create()
    yield workspace
    workspace.close()


def _check(target: Target, ws: Workspace, value: Any) -> None:
    RUNS[target.name] += 1
    code, detail = outcome(lambda: target.run(ws, value))
    assert code != "hang", f"{target.name}: hang on {value!r:.300}"
    assert code != 1, f"{target.name}: internal error on {value!r:.300}\n{detail}"


@pytest.mark.parametrize("target", targets(), ids=lambda t: t.name)
def test_fuzz_target(target: Target, ws: Workspace) -> None:
    @settings(
        max_examples=target.examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
    @given(target.strategy(ws))
    def run(value: Any) -> None:
        _check(target, ws, value)

    run()


def test_fuzz_ran_over_2000_cases() -> None:
    if len(RUNS) < len(targets()):
        pytest.skip("only part of the fuzz suite ran")
    assert sum(RUNS.values()) >= 2000, RUNS


def test_fuzzed_batch_through_the_cli(ws: Workspace) -> None:
    """Bad lines answer with their own code and the rest go on (fake server, real framing)."""
    lines = [
        b'{"id": "a", "op": "symbols", "args": {"file": "pkg/m.py"}}',
        b'{"op": "diag", "args": {"files": ["evil.py"]}}',
        b'{"op": "diag", "args": {"files": ["big.py", "loop1.py"]}}',
        b'{"op": "symbols", "args": {"file": "' + b"a" * 300 + b'.py"}}',
        b'{"op": "def", "args": {"selector": "pkg/m\\u0000.py@L1:C1"}}',
        b'{"op": "step", "args": {"edit": "--- a/pkg/m.py\\n+++ b/pkg/m.py\\n@@ -99999999999999999999,1 +1,1 @@\\n-a\\n+b\\n"}}',
        b'{"op": "step", "args": {"edit": "{\\"changes\\": {\\"file:///%ff\\": []}}"}}',
        b'{"op": "diag", "args": ' + b"[" * 3000 + b"}",
        b'{"op": "diag", "n": ' + b"9" * 5000 + b"}",
        b'{"op": "diag", "args": {"files": ["\xff"]}}',
        b'{"id": "z", "op": "symbols", "args": {"file": "pkg/m.py"}}',
    ]
    env = {**os.environ, "CODEPRM_SERVER_COMMAND": f"{sys.executable} {FAKE_LSP} ok"}
    env.pop("CODEPRM_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "codeprm", "batch", "-", "-w", str(ws.root), "--timeout", "10"],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        env=env,
        timeout=120,
        cwd=ws.root,
    )
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == len(lines), proc.stderr
    codes = [a["exitCode"] for a in answers]
    assert codes[0] == 0 and codes[-1] == 0, answers
    assert 1 not in codes, answers
    assert proc.returncode not in (0, 1)


@pytest.mark.parametrize(
    "args",
    [
        ("locate", "evil.py@L1:C1"),
        ("locate", "big.py@L1:C1"),
        ("locate", "loop1.py@L1:C1"),
        ("symbols", "binary.py"),
        ("locate", "pkg/m.py@L99999999999999999999:C1"),
        ("locate", "py://pkg.m#" + "f." * 2000 + "f"),
    ],
)
def test_fuzzed_cli_inputs_are_not_internal_errors(ws: Workspace, args: tuple[str, ...]) -> None:
    result = run_cli(*args, "-w", str(ws.root), cwd=ws.root, timeout=60)
    assert result.code not in (0, 1), (result.code, result.err)
    assert "Traceback" not in result.err
