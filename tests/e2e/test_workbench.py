"""The Workbench: one owner of a workspace's warm state; a trace is per call, and replays."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, check_bundle

pytestmark = pytest.mark.e2e


def test_a_call_records_into_its_own_trace_and_a_workbench_over_the_frames_replays_it(
    tmp_path: Path,
) -> None:
    from codeprm.bundles import canonical_bytes, trace
    from codeprm.workbench import Workbench

    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    recorded = trace.Collector()
    frames: list[tuple[str, str]] = []

    class Sink(trace.Collector):
        def frame(self, direction: str, body: str) -> None:
            frames.append((direction, body))

    sink = Sink()
    with Workbench(root=ws) as bench, bench.call(sink):
        first = check_bundle(bench.diag(["pkg/broken.py"]))
        hover = check_bundle(bench.hover("py://pkg.geometry#area"))
    assert [b["bundleId"] for b in sink.bundles] == [first["bundleId"], hover["bundleId"]]
    assert sink.workspaces and sink.workspaces[0][0] == ws.resolve() and frames
    assert recorded.bundles == []  # no process-global recorder: nothing else saw the call

    replayed = trace.Collector()
    with Workbench(root=ws, replay_frames=tuple(frames)) as bench, bench.call(replayed):
        again = [bench.diag(["pkg/broken.py"]), bench.hover("py://pkg.geometry#area")]
    strip = [{k: v for k, v in b.items() if k != "meta"} for b in again]
    assert [canonical_bytes(b) for b in strip] == [
        canonical_bytes({k: v for k, v in b.items() if k != "meta"}) for b in (first, hover)
    ]
    assert [b["bundleId"] for b in replayed.bundles] == [first["bundleId"], hover["bundleId"]]


def test_a_pooled_workbench_stays_warm_and_follows_the_disk(tmp_path: Path) -> None:
    from codeprm.workbench import WorkbenchPool

    ws = tmp_path / "ws"
    shutil.copytree(FIXTURES / "ws_basic", ws)
    pool = WorkbenchPool()
    try:
        bench = pool.get(ws)
        with bench.call():
            assert bench.diag(["pkg/app.py"])["facts"]["counts"]["error"] == 0
        session = bench.analyzer.session
        app = ws / "pkg/app.py"
        app.write_text(app.read_text() + "broken_here\n")
        again = pool.get(ws)
        assert again is bench
        with again.call():
            diag = again.diag(["pkg/app.py"])
        assert again.analyzer.session is session  # the same warm session
        assert any("broken_here" in d["message"] for d in diag["facts"]["diagnostics"])
    finally:
        pool.close()
    assert not bench.started
