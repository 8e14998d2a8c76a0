"""The daemon's wire: the private directory, the peer check, the record checks (no server)."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from pathlib import Path

import pytest

from codeprm.cli import daemonwire as wire


@pytest.fixture
def tmpdir_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_so_peercred_names_our_own_uid() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert wire.peer_uid(a) == os.getuid()


def test_the_private_directory_is_created_0700_and_checked(tmpdir_base: Path) -> None:
    made = wire.private_dir(create=True)
    assert made == tmpdir_base / f"codeprm-{os.getuid()}"
    assert made.stat().st_mode & 0o777 == 0o700
    os.chmod(made, 0o755)
    with pytest.raises(wire.Untrusted, match="mode 0700"):
        wire.private_dir(create=True)
    os.rmdir(made)
    elsewhere = tmpdir_base / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    made.symlink_to(elsewhere)
    with pytest.raises(wire.Untrusted):
        wire.private_dir(create=True)


def test_xdg_runtime_dir_is_used_only_when_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert wire.private_dir(create=True) == runtime / "codeprm"
    os.chmod(runtime, 0o777)
    assert wire.private_dir(create=True) != runtime / "codeprm"


def test_a_record_must_be_ours_private_and_name_the_private_socket(
    tmpdir_base: Path, tmp_path: Path
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    with pytest.raises(wire.NoDaemon):
        wire.read_state(root)
    good = {"pid": 1, "socket": str(wire.socket_path(root, create=True)), "secret": "ab" * 32}
    wire.write_state(root, good)
    state = root / wire.STATE_FILE
    assert state.stat().st_mode & 0o777 == 0o600
    assert wire.read_state(root)["secret"] == good["secret"]
    for bad, fragment in (
        ({**good, "socket": "/tmp/other.sock"}, "private directory"),
        ({**good, "secret": "short"}, "not a daemon record"),
    ):
        state.write_text(json.dumps(bad))
        with pytest.raises(wire.Untrusted, match=fragment):
            wire.read_state(root)
    wire.write_state(root, good)
    os.chmod(state, 0o620)
    with pytest.raises(wire.Untrusted, match="writable by others"):
        wire.read_state(root)


def test_a_request_budget_is_four_times_its_timeout() -> None:
    assert wire.request_budget(["diag"]) == 240
    assert wire.request_budget(["step", "x.diff", "--timeout", "0.5"]) == 2
    assert wire.request_budget(["step", "--timeout=2"]) == 8
    assert wire.request_budget(["step", "--timeout", "nonsense"]) == 240


def test_the_proof_is_hmac_sha256_as_the_standard_library_computes_it() -> None:
    import hashlib
    import hmac

    for key in (
        b"",
        b"k",
        os.urandom(32).hex().encode(),
        os.urandom(64),
        os.urandom(65),
        os.urandom(200),
    ):
        for message in (b"", b"codeprm-daemon/2|client|" + os.urandom(32).hex().encode()):
            assert (
                wire.hmac_sha256(key, message) == hmac.new(key, message, hashlib.sha256).hexdigest()
            )
    secret, challenge = "ab" * 32, os.urandom(32).hex()
    expected = hmac.new(
        secret.encode(), f"{wire.PROTOCOL}|daemon|{challenge}".encode(), hashlib.sha256
    ).hexdigest()
    assert wire.proof(secret, "daemon", challenge) == expected
    assert wire.proof(secret, "client", challenge) != expected


def test_a_record_in_the_first_temp_candidate_is_checked_without_tempfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    first, other = tmp_path / "first", tmp_path / "other"
    first.mkdir()
    other.mkdir()
    monkeypatch.setenv("TMPDIR", str(first))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() picks TMPDIR again
    root = tmp_path / "ws"
    root.mkdir()
    sock = wire.socket_path(root, create=True)
    assert sock.parent == first / f"codeprm-{os.getuid()}"
    good = {"pid": 1, "socket": str(sock), "secret": "ab" * 32}
    wire.write_state(root, good)

    def no_tempfile() -> str:
        raise AssertionError("tempfile.gettempdir() asked")

    monkeypatch.setattr(tempfile, "gettempdir", no_tempfile)
    assert wire.read_state(root)["socket"] == str(sock)
    monkeypatch.undo()
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(first))
    monkeypatch.setattr(tempfile, "tempdir", None)
    # a private directory of ours elsewhere is neither the first candidate nor gettempdir's
    elsewhere = other / f"codeprm-{os.getuid()}"
    elsewhere.mkdir(mode=0o700)
    wire.write_state(root, {**good, "socket": str(elsewhere / sock.name)})
    with pytest.raises(wire.Untrusted, match="private directory"):
        wire.read_state(root)
