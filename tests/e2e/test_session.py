"""The real basedpyright, driven through LspSession: known answers, restarts, timeouts."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from codeprm.errors import ServerCrashError, ServerTimeoutError
from codeprm.lsp import SessionConfig, SyncSession
from codeprm.types import Location, Position, Range

pytestmark = pytest.mark.e2e


def loc(path: str, line: int, start: int, end: int) -> Location:
    return Location(path, Range(Position(line, start), Position(line, end)))


@pytest.fixture(scope="module")
def session(ws_basic: Path):
    with SyncSession(SessionConfig(root=ws_basic, timeout=60)) as s:
        for name in ("__init__.py", "geometry.py", "app.py", "broken.py", "text.py"):
            path = ws_basic / "pkg" / name
            s.sync(path, path.read_text())
        yield s


def test_server_info_and_encoding(session: SyncSession) -> None:
    assert session.info.name == "basedpyright"
    assert session.info.version == "1.40.2"
    assert session.info.position_encoding == "utf-16"
    assert session.info.capabilities["references"] is True


def test_definition_across_files(session: SyncSession, ws_basic: Path) -> None:
    # `area` in `return p.norm() + area(2.0, 5.0)` (app.py line 6, 0-based 5)
    got = session.definition(ws_basic / "pkg/app.py", Position(5, 22))
    assert got == [loc("pkg/geometry.py", 16, 4, 8)]


def test_method_definition(session: SyncSession, ws_basic: Path) -> None:
    got = session.definition(ws_basic / "pkg/app.py", Position(5, 14))  # p.norm
    assert got == [loc("pkg/geometry.py", 12, 8, 12)]


def test_references_are_totally_ordered(session: SyncSession, ws_basic: Path) -> None:
    got = session.references(ws_basic / "pkg/geometry.py", Position(16, 5))
    assert got == [
        loc("pkg/app.py", 0, 32, 36),
        loc("pkg/app.py", 5, 22, 26),
        loc("pkg/broken.py", 0, 25, 29),
        loc("pkg/broken.py", 4, 11, 15),
        loc("pkg/geometry.py", 16, 4, 8),
    ]
    assert got == sorted(got, key=Location.sort_key)


def test_hover_shows_signature(session: SyncSession, ws_basic: Path) -> None:
    h = session.hover(ws_basic / "pkg/app.py", Position(5, 22))
    assert h is not None
    assert "(function) def area(\n    width: float,\n    height: float\n) -> float" in h.contents
    assert "Area of a rectangle." in h.contents


def test_symbols_are_nested(session: SyncSession, ws_basic: Path) -> None:
    syms = session.symbols(ws_basic / "pkg/geometry.py")
    top = [(s.name, s.kind) for s in syms]
    assert ("Point", "class") in top and ("area", "function") in top
    point = next(s for s in syms if s.name == "Point")
    assert {c.name for c in point.children} >= {"__init__", "norm"}


def test_diagnostics_known_answer(session: SyncSession, ws_basic: Path) -> None:
    diags = session.diagnostics(ws_basic / "pkg/broken.py")
    assert [(d.severity, d.code, d.range.start.line) for d in diags] == [
        ("error", "reportUndefinedVariable", 4)
    ]
    assert diags[0].message == '"missing_name" is not defined'
    assert session.diagnostics(ws_basic / "pkg/geometry.py") == []


def test_astral_characters_use_utf16_columns(session: SyncSession, ws_basic: Path) -> None:
    # line 1: GREETING = "héllo 𝔘nicode"; value = 1  -- 𝔘 is two utf-16 units
    got = session.definition(ws_basic / "pkg/text.py", Position(2, 10))
    text = (ws_basic / "pkg/text.py").read_text().splitlines()[1]
    codepoint_col = text.index("value")
    assert got == [loc("pkg/text.py", 1, codepoint_col + 1, codepoint_col + 6)]


def test_signature_change_shows_in_caller(ws_basic: Path) -> None:
    geometry = ws_basic / "pkg/geometry.py"
    app = ws_basic / "pkg/app.py"
    with SyncSession(SessionConfig(root=ws_basic, timeout=60)) as s:
        s.sync(geometry, geometry.read_text())
        s.sync(app, app.read_text())
        assert s.diagnostics(app) == []
        changed = geometry.read_text().replace(
            "def area(width: float, height: float)", "def area(width: float)"
        )
        s.sync(geometry, changed)
        after = s.diagnostics(app)
        assert [d.message for d in after] == ["Expected 1 positional argument"]
        assert after[0].path == "pkg/app.py" and after[0].range.start.line == 5
        s.sync(geometry, geometry.read_text())  # and back: the error disappears at once
        assert s.diagnostics(app) == []
    assert geometry.read_text().count("height: float") == 1  # the file on disk never changed


def test_killed_server_is_restarted_and_request_succeeds(ws_basic: Path) -> None:
    broken = ws_basic / "pkg/broken.py"
    with SyncSession(SessionConfig(root=ws_basic, timeout=60)) as s:
        s.sync(broken, broken.read_text())
        before = s.diagnostics(broken)
        pid = s.session.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        after = s.diagnostics(broken)
        assert after == before and len(after) == 1
        assert s.session.restarts == 1 and s.session.pid != pid


def test_hung_server_times_out(ws_basic: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CODEPRM_SERVER_COMMAND", f"{sys.executable} -c 'import time; time.sleep(600)'"
    )
    started = time.monotonic()
    with pytest.raises(ServerTimeoutError), SyncSession(SessionConfig(root=ws_basic, timeout=1.0)):
        pass
    assert time.monotonic() - started < 15


def test_missing_server_binary(ws_basic: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEPRM_SERVER_COMMAND", "/nonexistent/bin/basedpyright-langserver --stdio")
    with (
        pytest.raises(ServerCrashError, match="cannot start"),
        SyncSession(SessionConfig(root=ws_basic, timeout=5)),
    ):
        pass


def test_server_that_exits_at_once(ws_basic: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CODEPRM_SERVER_COMMAND",
        f"{sys.executable} -c 'import sys; sys.stderr.write(\"boom\\n\"); sys.exit(3)'",
    )
    with (
        pytest.raises(ServerCrashError, match="boom"),
        SyncSession(SessionConfig(root=ws_basic, timeout=5)),
    ):
        pass
