"""Issue #17 (and #13): hostile inputs end with their documented exit code, in bounded time.

Each test here failed before the fix: a spin, a hang on a FIFO, or exit 1 (an internal
error) where the README's table names another code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codeprm import safeio, safejson
from codeprm.errors import CodeprmError, NotFoundError, ServerCrashError, UsageError
from tests.conftest import assert_clean_error, git, run_cli

FAKE_LSP = Path(__file__).resolve().parents[1] / "fakes" / "fake_lsp.py"


def code_of(fn, *args, **kwargs) -> int:  # type: ignore[no-untyped-def]
    try:
        fn(*args, **kwargs)
    except CodeprmError as err:
        return err.exit_code
    return 0


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "m.py").write_text("def f(x: int) -> int:\n    return x\n\n\nY = f(1)\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init")
    return root


# -- diffs ----------------------------------------------------------------------------------
HUGE_HUNK = "--- a/pkg/m.py\n+++ b/pkg/m.py\n@@ -99999999999999999999,2 +1,2 @@\n-def f(x: int) -> int:\n+def f(x: int) -> str:\n     return x\n"


def test_huge_hunk_position_is_a_malformed_diff_not_a_spin(ws: Path) -> None:
    from codeprm.workspace.diffs import parse_unified_diff

    with pytest.raises(UsageError, match="beyond any file"):
        parse_unified_diff(HUGE_HUNK)
    (ws.parent / "huge.diff").write_text(HUGE_HUNK)
    started = time.monotonic()
    result = run_cli(
        "apply", str(ws.parent / "huge.diff"), "-w", str(ws), "--timeout", "5", timeout=60
    )
    assert_clean_error(result, 2, "beyond any file")
    assert time.monotonic() - started < 30


def test_hunk_stated_past_the_end_is_searched_within_the_file() -> None:
    from codeprm.workspace.diffs import apply_hunks, parse_unified_diff

    patch = parse_unified_diff(
        "--- a/x.py\n+++ b/x.py\n@@ -2000000000,1 +2000000000,1 @@\n-b\n+B\n"
    )
    started = time.monotonic()
    assert apply_hunks("a\nb\nc\n", patch.files[0].hunks) == "a\nB\nc\n"
    assert time.monotonic() - started < 1


def test_reversed_git_diff_applies(ws: Path) -> None:
    (ws / "pkg" / "m.py").write_text("def f(x: int) -> int:\n    return x + 1\n\n\nY = f(1)\n")
    reverse = git(ws, "diff", "-R")
    assert reverse.startswith("diff --git b/pkg/m.py a/pkg/m.py")
    diff = ws.parent / "rev.diff"
    diff.write_text(reverse)
    result = run_cli("apply", str(diff), "-w", str(ws), "--apply", "--allow-dirty", timeout=60)
    assert result.code == 0, result.err
    assert (
        ws / "pkg" / "m.py"
    ).read_text() == "def f(x: int) -> int:\n    return x\n\n\nY = f(1)\n"


def test_quoted_octal_path_is_decoded() -> None:
    from codeprm.workspace.diffs import parse_unified_diff, unquote_path

    patch = parse_unified_diff(
        '--- "a/caf\\303\\251.py"\n+++ "b/caf\\303\\251.py"\n@@ -1 +1 @@\n-a\n+b\n'
    )
    assert patch.files[0].path == "café.py"
    assert unquote_path('"caf\\303\\251.py"') == "café.py"
    with pytest.raises(UsageError):
        unquote_path('"caf\\377.py"')


# -- files: FIFOs, huge, binary, long names, loops --------------------------------------------
def test_fifo_is_never_opened(ws: Path) -> None:
    from codeprm.analysis.files import iter_python_files, read_source

    fifo = ws / "evil.py"
    os.mkfifo(fifo)
    skipped: list[tuple[Path, str]] = []
    assert fifo not in list(iter_python_files(ws, skipped))
    assert skipped and "FIFO" in skipped[0][1]
    with pytest.raises(UsageError, match="FIFO"):
        read_source(fifo)
    for args in (("locate", "evil.py@L1:C1"), ("symbols", "evil.py")):
        assert_clean_error(run_cli(*args, "-w", str(ws), cwd=ws, timeout=60), 2, "FIFO")


def test_file_over_16_mib_is_too_large(ws: Path) -> None:
    big = ws / "big.py"
    with big.open("wb") as f:
        f.truncate(safeio.MAX_FILE_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(UsageError, match="too large"):
        safeio.read_bytes(big)
    assert_clean_error(run_cli("locate", "big.py@L1:C1", cwd=ws, timeout=60), 2, "too large")
    assert_clean_error(run_cli("symbols", "big.py", cwd=ws, timeout=60), 2, "too large")


def test_locate_in_a_binary_file_is_2(ws: Path) -> None:
    (ws / "binary.py").write_bytes(b"x\0y\n")
    assert_clean_error(run_cli("locate", "binary.py@L1:C1", cwd=ws, timeout=60), 2, "binary")


def test_long_name_and_symlink_loop_are_2(ws: Path) -> None:
    (ws / "loop1.py").symlink_to("loop2.py")
    (ws / "loop2.py").symlink_to("loop1.py")
    long = "a" * 300 + ".py"
    for args in (
        ("locate", f"{long}@L1:C1"),
        ("symbols", long),
        ("locate", "loop1.py@L1:C1"),
        ("symbols", "loop1.py"),
    ):
        assert_clean_error(run_cli(*args, cwd=ws, timeout=60), 2)
    assert isinstance(safeio.problem(ws / long), UsageError)
    assert isinstance(safeio.problem(ws / "loop1.py"), UsageError)
    assert isinstance(safeio.problem(ws / "absent.py"), NotFoundError)


def test_nul_in_a_selector_is_a_syntax_error(ws: Path) -> None:
    from codeprm.selectors import WorkspaceIndex, resolve

    index = WorkspaceIndex(ws, scan=False)
    for selector in (
        "pkg/m\0.py@L1:C1",
        'anchor://pkg/m.py#"de\0f"',
        "py://pkg.m#f\0",
        "ast://[module=pkg.m]/[def=f\0]",
    ):
        assert code_of(resolve, selector, index) == 2, selector


# -- JSON inputs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[" * 50_000 + "]" * 50_000, "nested"),
        ('{"a": ' + "7" * 5000 + "}", "beyond 2\\^53"),
        ('{"a": NaN}', "NaN"),
        ('{"a": -Infinity}', "Infinity"),
        ('{"a": 1e999}', "overflows"),
        ('{"a": 9007199254740993}', "beyond 2\\^53"),
        ('{"a": "\\ud800"}', "surrogate"),
    ],
)
def test_shared_json_loader_refuses_with_2(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        safejson.loads(text)


def test_json_limits_reach_every_json_input(ws: Path) -> None:
    from codeprm.workspace.wsedit import parse_workspace_edit

    deep = "[" * 20_000 + "]" * 20_000
    assert code_of(parse_workspace_edit, '{"changes": ' + deep + "}", ws) == 2
    assert (
        code_of(
            parse_workspace_edit, '{"changes": {"file:///x": [{"range": ' + "1" * 5000 + "}]}}", ws
        )
        == 2
    )
    traj = ws.parent / "t.jsonl"
    for line in (deep, '{"schema": "codeprm.trajectory/1", "index": ' + "9" * 5000 + "}"):
        traj.write_text(line + "\n")
        assert_clean_error(run_cli("score", str(traj), "-w", str(ws), timeout=60), 2)
    bundles = ws.parent / "b.jsonl"
    for line in ('{"version": NaN}', '{"a": "\\udc00"}', '{"n": 18014398509481984}', deep):
        bundles.write_text(line + "\n")
        assert_clean_error(run_cli("schema", "validate", str(bundles), timeout=60), 2)
        assert_clean_error(run_cli("replay", str(bundles), timeout=60), 2)


def test_percent_ff_in_a_workspace_edit_uri_is_2(ws: Path) -> None:
    from codeprm.workspace.wsedit import parse_workspace_edit

    edit = {"changes": {"file:///tmp/%ff.py": []}}
    with pytest.raises(UsageError, match="UTF-8"):
        parse_workspace_edit(json.dumps(edit), ws)
    assert code_of(parse_workspace_edit, json.dumps({"changes": {"file://[::1/x.py": []}}), ws) == 2


# -- trajectories ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "files",
    [
        ["x"],
        [{"path": "a.py", "before": {}, "beforeSha256": "0" * 64}],
        [{"path": "a.py", "before": 5, "after": "x"}],
        [{"path": "a.py", "before": None, "after": ["x"]}],
        [{"path": 7, "before": None, "after": "x"}],
        [{"path": "a.py", "before": None, "after": "x", "afterSha256": 3}],
        {"a.py": "x"},
    ],
)
def test_malformed_trajectory_steps_are_2(files: object) -> None:
    from codeprm.trajectories.model import Step

    step = {"schema": "codeprm.trajectory/1", "index": 0, "files": files}
    assert code_of(Step.from_json, step) == 2


@pytest.mark.parametrize(
    "field",
    [
        {"index": "0"},
        {"index": -1},
        {"confidence": "1"},
        {"confidence": 2},
        {"source": [1]},
        {"id": {}},
    ],
)
def test_malformed_trajectory_fields_are_2(field: dict[str, object]) -> None:
    from codeprm.trajectories.model import Step

    step = {
        "schema": "codeprm.trajectory/1",
        "index": 0,
        "files": [{"path": "a.py", "before": None, "after": "x\n"}],
        **field,
    }
    assert code_of(Step.from_json, step) == 2


# -- traces ------------------------------------------------------------------------------------------
def test_malformed_traces_are_2(ws: Path) -> None:
    trace = ws.parent / "trace.jsonl"
    assert run_cli("locate", "pkg/m.py@L1:C5", "--trace-file", str(trace), cwd=ws).code == 0
    good = trace.read_text().splitlines()
    assert run_cli("trace", "list", str(trace)).code == 0
    mutations = [
        lambda s: s.replace('"seq":1', '"seq":' + "[" * 5000 + "]" * 5000, 1),
        lambda s: s.replace('"seq":1', '"seq":NaN', 1),
        lambda s: s.replace('"seq":1', '"seq":' + "9" * 30, 1),
        lambda s: s.replace('"cwd":"', '"cwd":"\\ud800', 1),
        lambda s: s.replace('"inv":"', '"inv":["', 1).replace('","schema"', '"],"schema"', 1),
        lambda s: s.replace('"argv":[', '"argv":[7,', 1),
    ]
    for mutate in mutations:
        bad = [mutate(line) for line in good]
        assert bad != good
        trace.write_text("\n".join(bad) + "\n")
        for command in ("list", "show", "replay"):
            assert_clean_error(run_cli("trace", command, str(trace)), 2)


# -- batch ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        b'{"op": "diag", "args": 5}',
        b'{"op": "diag", "args": [1]}',
        b'{"op": "step", "args": {"edit": 5}}',
        b'{"op": "step", "args": {"edit": "x", "confidence": 2}}',
        b'{"op": "step", "args": {"edit": "x", "confidence": "1"}}',
        b'{"op": "def", "args": {"selector": ["a"]}}',
        b'{"op": "diag", "args": {"files": [1]}}',
        b'{"op": 5}',
        b'{"op": "diag", "x": "\xff"}',
        b"[" * 10000,
    ],
)
def test_bad_batch_lines_are_2(raw: bytes) -> None:
    from codeprm.cli.batch import parse_line

    assert code_of(parse_line, raw, 1) == 2


def test_batch_answers_each_bad_line_and_goes_on(ws: Path) -> None:
    lines = [
        b'{"id": 1, "op": "symbols", "args": {"file": "pkg/m.py"}}',
        b'{"id": 2, "op": "diag", "args": 5}',
        b'{"id": 3, "op": "step", "args": {"edit": 7}}',
        b'{"id": 4, "op": "step", "args": {"edit": "", "confidence": 1.5}}',
        b'{"id": 5, "op": "diag", "args": {"files": ["\xff"]}}',
        b'{"id": 6, "op": "symbols", "args": {"file": "pkg/m.py"}}',
    ]
    env = {**os.environ, "CODEPRM_SERVER_COMMAND": f"{sys.executable} {FAKE_LSP} ok"}
    env.pop("CODEPRM_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "codeprm", "batch", "-", "-w", str(ws), "--timeout", "10"],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        env=env,
        timeout=120,
        cwd=ws,
    )
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [a["exitCode"] for a in answers] == [0, 2, 2, 2, 2, 0], proc.stderr
    assert proc.returncode == 2


# -- language server faults ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "fragment"),
    [
        ("huge-length", "Content-Length"),
        ("bad-initialize", "malformed reply"),
        ("bad-diagnostic", "malformed reply"),
    ],
)
def test_server_faults_exit_65_not_timeout_or_cancelled(ws: Path, mode: str, fragment: str) -> None:
    started = time.monotonic()
    result = run_cli(
        "diag",
        "pkg/m.py",
        "-w",
        str(ws),
        "--timeout",
        "20",
        env={"CODEPRM_SERVER_COMMAND": f"{sys.executable} {FAKE_LSP} {mode}"},
        cwd=ws,
        timeout=120,
    )
    assert_clean_error(result, 65, fragment)
    assert time.monotonic() - started < 20  # answered at once, not after the timeout


def test_unbalanced_quote_in_server_command_is_65(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codeprm.lsp.servers import basedpyright_spec

    monkeypatch.setenv("CODEPRM_SERVER_COMMAND", "python 'unbalanced")
    with pytest.raises(ServerCrashError, match="cannot be parsed"):
        basedpyright_spec(Path(sys.executable))
    result = run_cli(
        "diag", "pkg/m.py", "-w", str(ws), env={"CODEPRM_SERVER_COMMAND": "python 'x"}, cwd=ws
    )
    assert_clean_error(result, 65, "cannot be parsed")


@pytest.mark.parametrize("command", [("locate", "py://pkg.m#f"), ("diag",)])
def test_a_missing_workspace_is_a_clean_not_found(tmp_path: Path, command: tuple[str, ...]) -> None:
    """``locate -w MISSING`` was an internal error (exit 1, NotADirectoryError)."""
    missing = tmp_path / "no" / "such" / "dir"
    assert_clean_error(run_cli(*command, "-w", str(missing), timeout=60), 3, "is not a directory")
