"""Traces you can trust: the end record is replayed whole, a keyed chain detects forgery."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, assert_clean_error, run_cli

pytestmark = pytest.mark.e2e

KEY = "a test key that only the recorder knows"
HOVER = "py://pkg.geometry#area"


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def save(path: Path, records: list[dict[str, Any]]) -> Path:
    from codeprm.bundles import canonical_bytes

    path.write_bytes(b"".join(canonical_bytes(r) + b"\n" for r in records))
    return path


def rechain(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a forger does after editing: recompute the plain sha256 chain of every invocation."""
    from codeprm.bundles import canonical_bytes, trace

    digests: dict[str, str] = {}
    for r in records:
        body = {k: v for k, v in r.items() if not (r["type"] == "end" and k == "digest")}
        prev = digests.get(r["inv"], hashlib.sha256(trace.TRACE_SCHEMA.encode()).hexdigest())
        digests[r["inv"]] = hashlib.sha256(prev.encode() + canonical_bytes(body)).hexdigest()
        if r["type"] == "end":
            r["digest"] = digests[r["inv"]]
    return records


def edit_end(records: list[dict[str, Any]], n: int, **changes: Any) -> list[dict[str, Any]]:
    ends = [r for r in records if r["type"] == "end"]
    ends[n].update(changes)
    return rechain(records)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("traces") / "ws"
    shutil.copytree(FIXTURES / "ws_basic", root)
    return root


def record(ws: Path, trace: Path, env: dict[str, str] | None = None) -> None:
    for args, code in ((["diag"], 0), (["hover", HOVER], 0), (["diag", "pkg/none.py"], 3)):
        r = run_cli(
            *args,
            "-w",
            str(ws),
            "--trace-file",
            str(trace),
            env={"CODEPRM_NO_DAEMON": "1", **(env or {})},
        )
        assert r.code == code, r.err


@pytest.fixture(scope="module")
def plain(ws: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    trace = tmp_path_factory.mktemp("plain") / "trace.jsonl"
    record(ws, trace)
    return trace


def test_forged_end_records_are_caught_by_the_replay_even_with_a_recomputed_chain(
    plain: Path, tmp_path: Path
) -> None:
    r = run_cli("trace", "replay", str(plain))
    assert r.code == 0, r.err
    assert r.out.count("[integrity-only chain") == 3
    # unedited, a recomputed chain is the same chain
    assert save(tmp_path / "same.jsonl", rechain(load(plain))).read_bytes() == plain.read_bytes()
    for n, changes, fragment in (
        (2, {"status": "ok"}, "end record differs from the replay in status"),
        (2, {"error": "something else went wrong"}, "end record differs from the replay in error"),
        (1, {"operation": "diag"}, "end record differs from the replay in operation"),
        (
            1,
            {"selector": "py://pkg.geometry#Point"},
            "end record differs from the replay in selector",
        ),
        (1, {"extra": True}, "end record differs from the replay in extra"),
        (2, {"exitCode": 0, "status": "ok", "error": None}, "replay exited 3, the trace says 0"),
    ):
        forged = save(tmp_path / "forged.jsonl", edit_end(load(plain), n, **changes))
        assert_clean_error(run_cli("trace", "replay", str(forged)), 76, fragment)


def test_edited_inv_or_begin_type_exit_76(plain: Path, tmp_path: Path) -> None:
    records = load(plain)
    records[3]["inv"] = "0123456789ab"
    edited = save(tmp_path / "inv.jsonl", records)
    assert_clean_error(run_cli("trace", "replay", str(edited)), 76)
    assert_clean_error(run_cli("trace", "list", str(edited)), 76, "no begin record")
    records = load(plain)
    records[0]["type"] = "start"
    edited = save(tmp_path / "type.jsonl", rechain(records))
    assert_clean_error(run_cli("trace", "replay", str(edited)), 76)
    assert_clean_error(run_cli("trace", "list", str(edited)), 76)
    # a line that is not JSON at all is not a trace record: bad input (2), not a forgery
    edited.write_text(plain.read_text().replace('"seq":', '"seq" ', 1))
    assert_clean_error(run_cli("trace", "list", str(edited)), 2, "not a trace record")


def test_a_keyed_chain_detects_forgery(ws: Path, tmp_path: Path) -> None:
    keyfile = tmp_path / "key"
    keyfile.write_text(KEY + "\n")
    keyed = tmp_path / "keyed.jsonl"
    record(ws, keyed, env={"CODEPRM_TRACE_KEY": KEY})
    # with a warm daemon running, traced commands run there on a fresh session (a trace needs
    # every frame), keyed with the client's key: --trace-key FILE or its CODEPRM_TRACE_KEY
    assert run_cli("daemon", "start", "-w", str(ws), "--idle-timeout", "300").code == 0
    try:
        r = run_cli(
            "hover", HOVER, "-w", str(ws), "--trace-file", str(keyed), "--trace-key", str(keyfile)
        )
        assert r.code == 0, r.err
        r = run_cli(
            "diag", "-w", str(ws), "--trace-file", str(keyed), env={"CODEPRM_TRACE_KEY": KEY}
        )
        assert r.code == 0, r.err
        assert json.loads(run_cli("daemon", "status", "-w", str(ws), "--json").out)["served"] == 2
    finally:
        run_cli("daemon", "stop", "-w", str(ws))
    assert {r["chain"] for r in load(keyed) if r["type"] == "begin"} == {"hmac-sha256"}
    r = run_cli("trace", "replay", str(keyed), "--trace-key", str(keyfile))
    assert r.code == 0, r.err
    assert r.out.count("[keyed chain verified]") == 5
    assert run_cli("trace", "replay", str(keyed), env={"CODEPRM_TRACE_KEY": KEY}).code == 0
    assert_clean_error(run_cli("trace", "replay", str(keyed)), 2, "keyed chain")
    wrong = tmp_path / "wrong"
    wrong.write_text("not the key")
    assert_clean_error(
        run_cli("trace", "replay", str(keyed), "--trace-key", str(wrong)), 76, "digest mismatch"
    )
    for field, value in (
        ("status", "ok"),
        ("error", None),
        ("operation", "hover"),
        ("selector", HOVER),
    ):
        forged = save(tmp_path / "forged.jsonl", edit_end(load(keyed), 2, **{field: value}))
        assert_clean_error(
            run_cli("trace", "replay", str(forged), "--trace-key", str(keyfile)),
            76,
            "digest mismatch",
        )
    # relabelled as a plain chain and recomputed: refused when a key is expected
    records = load(keyed)
    for rec in records:
        if rec["type"] == "begin":
            rec["chain"] = "sha256"
    forged = save(tmp_path / "relabelled.jsonl", rechain(records))
    assert_clean_error(
        run_cli("trace", "replay", str(forged), "--trace-key", str(keyfile)), 76, "not keyed"
    )


def test_a_trace_file_must_be_a_regular_file(ws: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = run_cli(
        "diag", "-w", str(ws), "--trace-file", str(fifo), env={"CODEPRM_NO_DAEMON": "1"}, timeout=30
    )
    assert_clean_error(r, 2, "cannot write the trace file")  # no reader: refused, never blocks
    r = run_cli(
        "diag",
        "-w",
        str(ws),
        "--trace-file",
        "/dev/null",
        env={"CODEPRM_NO_DAEMON": "1"},
        timeout=30,
    )
    assert_clean_error(r, 2, "not a regular file")
