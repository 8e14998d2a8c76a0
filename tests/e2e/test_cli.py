"""The CLI as a user runs it: real server, fresh processes, bundles, exit codes."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import assert_clean_error, check_bundle, run_cli

pytestmark = pytest.mark.e2e


def test_diag_workspace_bundle(ws_basic: Path) -> None:
    r = run_cli("diag", "-w", str(ws_basic), "--json")
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    facts = bundle["facts"]
    assert facts["files"] == [
        "pkg/__init__.py",
        "pkg/app.py",
        "pkg/broken.py",
        "pkg/geometry.py",
        "pkg/text.py",
    ]
    assert [(d["path"], d["code"]) for d in facts["diagnostics"] if d["severity"] == "error"] == [
        ("pkg/broken.py", "reportUndefinedVariable")
    ]
    assert facts["counts"]["error"] == 1
    assert bundle["environment"]["server"] == {"name": "basedpyright", "version": "1.40.2"}
    assert bundle["environment"]["positionEncoding"] == "utf-16"


def test_same_request_same_bundle_id_in_two_processes(ws_basic: Path) -> None:
    ids = []
    for _ in range(2):
        r = run_cli("diag", "-w", str(ws_basic), "pkg/broken.py", "pkg/app.py", "--json")
        assert r.code == 0, r.err
        ids.append(check_bundle(json.loads(r.out))["bundleId"])
    assert ids[0] == ids[1]


def test_symbols_json_and_human(ws_basic: Path) -> None:
    r = run_cli("symbols", "-w", str(ws_basic), "pkg/geometry.py", "--json")
    bundle = check_bundle(json.loads(r.out))
    assert [s["name"] for s in bundle["facts"]["symbols"]] == ["Point", "area"]
    human = run_cli("symbols", "-w", str(ws_basic), "pkg/geometry.py")
    assert (
        human.code == 0
        and "class" in human.out
        and "norm" in human.out
        and "pkg/geometry.py:13:9" in human.out
    )


def test_human_diag_output(ws_basic: Path) -> None:
    r = run_cli("diag", "-w", str(ws_basic), "pkg/broken.py")
    assert r.code == 0
    assert (
        'pkg/broken.py:5:29: error: "missing_name" is not defined [reportUndefinedVariable]'
        in r.out
    )
    assert "1 file(s): 1 error(s), 0 warning(s)" in r.out


def test_deterministic_commands_do_not_import_torch(ws_basic: Path) -> None:
    import subprocess

    code = (
        "import sys\n"
        "import codeprm\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "from codeprm.cli.main import run\n"
        f"rc = run(['diag', '-w', {str(ws_basic)!r}, '--json'])\n"
        "bad = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
        "print('RESULT', rc, bad, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "RESULT 0 []" in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("make", "args", "code", "fragment"),
    [
        (None, ["diag", "pkg/nothere.py"], 3, "no such file"),
        ("binary", ["diag", "blob.py"], 2, "binary"),
        ("latin1", ["diag", "latin.py"], 2, "not valid UTF-8"),
        (None, ["diag", "pkg"], 2, "is a directory"),
        (None, ["diag", "/etc/hostname"], 2, "outside the workspace"),
        (None, ["frobnicate"], 2, "No such command"),
    ],
)
def test_bad_input_is_one_clean_line(
    ws_basic: Path, tmp_path: Path, make: str | None, args: list[str], code: int, fragment: str
) -> None:
    ws = tmp_path / "w"
    (ws / "pkg").mkdir(parents=True)
    (ws / "pkg" / "ok.py").write_text("x = 1\n")
    if make == "binary":
        (ws / "blob.py").write_bytes(b"\x00\x01\x02binary")
    if make == "latin1":
        (ws / "latin.py").write_bytes("s = 'caf\xe9'\n".encode("latin-1"))
    before = sorted((p.relative_to(ws), p.read_bytes()) for p in ws.rglob("*") if p.is_file())
    r = run_cli(*args[:1], "-w", str(ws), *args[1:]) if args[0] != "frobnicate" else run_cli(*args)
    assert_clean_error(r, code, fragment)
    after = sorted((p.relative_to(ws), p.read_bytes()) for p in ws.rglob("*") if p.is_file())
    assert before == after  # nothing written


def test_empty_workspace(tmp_path: Path) -> None:
    r = run_cli("diag", "-w", str(tmp_path))
    assert_clean_error(r, 3, "no Python files")


def test_hung_server_exits_64_within_timeout(ws_basic: Path) -> None:
    started = time.monotonic()
    r = run_cli(
        "diag",
        "-w",
        str(ws_basic),
        "--timeout",
        "1",
        env={"CODEPRM_SERVER_COMMAND": f"{sys.executable} -c 'import time; time.sleep(600)'"},
        timeout=60,
    )
    assert_clean_error(r, 64, "did not answer initialize within 1s")
    assert time.monotonic() - started < 20


def test_broken_server_binary_exits_65(ws_basic: Path) -> None:
    r = run_cli(
        "diag",
        "-w",
        str(ws_basic),
        env={"CODEPRM_SERVER_COMMAND": "/nonexistent/langserver --stdio"},
    )
    assert_clean_error(r, 65, "cannot start the language server")


def test_help_lists_exit_codes() -> None:
    r = run_cli("--help")
    assert r.code == 0
    for code in ("64  language server timeout", "71  write denied", "76  replay mismatch"):
        assert code in r.out


def test_doctor_json(ws_basic: Path) -> None:
    r = run_cli("doctor", "-w", str(ws_basic), "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert (
        report["server"]["name"] == "basedpyright"
        and report["server"]["positionEncoding"] == "utf-16"
    )
    assert all(c["ok"] for c in report["checks"] if c["required"])


@pytest.mark.parametrize(
    ("command", "selector", "expected"),
    [
        ("def", "pkg/app.py@L6:C23", [("pkg/geometry.py", 16, 4)]),
        ("def", "pkg/app.py@R(6,23->6,27)", [("pkg/geometry.py", 16, 4)]),
        (
            "refs",
            "py://pkg.geometry#area",
            [
                ("pkg/app.py", 0, 32),
                ("pkg/app.py", 5, 22),
                ("pkg/broken.py", 0, 25),
                ("pkg/broken.py", 4, 11),
                ("pkg/geometry.py", 16, 4),
            ],
        ),
        (
            "refs",
            "ast://[module=pkg.geometry]/[class=Point]/[def=norm]",
            [("pkg/app.py", 5, 13), ("pkg/geometry.py", 12, 8)],
        ),
        ("def", 'anchor://pkg/app.py#"area(2.0"', [("pkg/geometry.py", 16, 4)]),
        # GREETING = "héllo 𝔘nicode"; value = 1 -- columns in code points, the server's are utf-16
        ("def", "pkg/text.py@L3:C10", [("pkg/text.py", 1, 29)]),
    ],
)
def test_navigation_accepts_every_selector_kind(
    ws_basic: Path, command: str, selector: str, expected: list[tuple[str, int, int]]
) -> None:
    r = run_cli(command, selector, "-w", str(ws_basic), "--json")
    assert r.code == 0, r.err
    bundle = check_bundle(json.loads(r.out))
    got = [
        (loc["path"], loc["range"]["start"]["line"], loc["range"]["start"]["character"])
        for loc in bundle["facts"]["locations"]
    ]
    assert got == expected


def test_index_io_changes_the_columns_people_see(ws_basic: Path) -> None:
    # `value` follows the astral 𝔘 (two utf-16 units): it starts at code point 29, utf-16 unit 30
    r = run_cli("def", "pkg/text.py@L2:C30", "-w", str(ws_basic), "--index-io", "codepoint")
    assert r.code == 0, r.err
    assert r.out.strip() == "pkg/text.py:2:29"
    assert (
        run_cli("def", "pkg/text.py@L2:C31", "-w", str(ws_basic)).out.strip() == "pkg/text.py:2:30"
    )


def test_hover_on_a_symbol_selector(ws_basic: Path) -> None:
    r = run_cli("hover", "py://pkg.geometry#Point.norm", "-w", str(ws_basic), "--json")
    bundle = check_bundle(json.loads(r.out))
    assert "def norm(self: Self@Point) -> float" in bundle["facts"]["hover"]["contents"]
    assert bundle["resolution"]["kind"] == "symbol" and bundle["resolution"]["confidence"] == 1.0


@pytest.mark.parametrize(
    ("selector", "code", "fragment"),
    [
        ("pkg/app.py@L60:C1", 3, "beyond the end"),
        ("pkg/app.py@L1:C500", 3, ""),
        ("pkg/app.py@L6:C", 2, "column 16"),
        ("py://pkg.geometry#Nope", 3, ""),
        ("pkg/none.py@L1:C1", 3, ""),
    ],
)
def test_bad_positions(ws_basic: Path, selector: str, code: int, fragment: str) -> None:
    assert_clean_error(run_cli("def", selector, "-w", str(ws_basic)), code, fragment)
