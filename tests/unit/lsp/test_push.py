"""The push-diagnostics path against a fake server speaking real LSP over stdio."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from codeprm.lsp import SessionConfig, SyncSession
from codeprm.lsp.servers import ServerSpec

FAKE = Path(__file__).resolve().parents[2] / "fakes" / "push_lsp.py"


def session(root: Path, mode: str, **spec: float) -> SyncSession:
    fake = ServerSpec(
        name="push-fake",
        command=(sys.executable, str(FAKE), mode),
        version="1",
        language="c",
        diagnostics="auto",
        exit_grace=0.2,
        **spec,
    )  # type: ignore[arg-type]
    return SyncSession(SessionConfig(root=root, spec=fake, timeout=10)).__enter__()


def messages(s: SyncSession, path: Path) -> list[str]:
    return [d.message for d in s.diagnostics(path)]


def test_a_stale_published_result_with_an_older_version_is_ignored(tmp_path: Path) -> None:
    a, b = tmp_path / "a.c", tmp_path / "b.c"
    s = session(tmp_path, "stale")
    try:
        assert s.info.diagnostics_mode == "push"
        s.sync(a, "one")
        assert messages(s, a) == ["text one"]
        s.sync(a, "two")  # the server publishes version 1 ("stale") at once, version 2 later
        assert messages(s, a) == ["text two"]
        # another document changed after a's version was sent: a is sent again (same text,
        # next version) and only the result for that version counts
        s.sync(b, "bee")
        assert messages(s, b) == ["text bee"]
        assert messages(s, a) == ["text two"]
        assert s.session.document_version(a) == 3
        assert not s.session.unsettled
        proc = s.session._client.process  # type: ignore[union-attr]
    finally:
        began = time.monotonic()
        s.close()
    # the fake ignores exit: it is killed after its grace, not waited on for seconds
    assert proc is not None and proc.returncode is not None
    assert time.monotonic() - began < 3


def test_an_unversioned_result_counts_once_the_server_settles(tmp_path: Path) -> None:
    a = tmp_path / "a.c"
    s = session(tmp_path, "unversioned", settle_quiet=0.4, settle_bound=5.0)
    try:
        s.sync(a, "one")
        assert messages(s, a) == ["text one"]  # not "early one": it was published before settling
        assert not s.session.unsettled
    finally:
        s.close()


def test_the_settle_bound_takes_the_latest_result_and_flags_it(tmp_path: Path) -> None:
    a = tmp_path / "a.c"
    s = session(tmp_path, "unversioned", settle_quiet=2.0, settle_bound=0.5)
    try:
        s.sync(a, "one")
        began = time.monotonic()
        assert messages(s, a) == ["text one"]
        assert time.monotonic() - began < 1.5
        assert s.session.unsettled == {a.resolve().as_uri()}
    finally:
        s.close()


@pytest.mark.parametrize("mode", ["stale"])
def test_push_session_restarts_reopen_documents_with_their_language(
    tmp_path: Path, mode: str
) -> None:
    a = tmp_path / "a.cpp"
    s = session(tmp_path, mode)
    try:
        s.sync(a, "x")
        assert s.session._documents[a.resolve().as_uri()].language_id == "cpp"
        s.restart()
        assert messages(s, a) == ["text x"]
    finally:
        s.close()


def test_bundles_record_unsettled_files_of_their_own_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codeprm.lsp.router import SessionRouter

    monkeypatch.setenv("CODEPRM_CLANGD_COMMAND", f"{sys.executable} {FAKE} stale")
    a = tmp_path / "a.c"
    router = SessionRouter(SessionConfig(root=tmp_path, timeout=10))
    try:
        router.sync(a, "one")
        assert [d.message for d in router.diagnostics_many([a])[0]] == ["text one"]
        [entry] = router.servers(["c"], ["a.c"])
        assert (entry["name"], entry["diagnosticsMode"], "unsettled" in entry) == (
            "push-fake",
            "push",
            False,
        )
        router.for_language("c").session.unsettled.add(a.resolve().as_uri())
        assert router.servers(["c"], ["a.c"])[0]["unsettled"] == ["a.c"]
        assert "unsettled" not in router.servers(["c"], ["b.c"])[0]  # only the bundle's own files
    finally:
        router.close()
