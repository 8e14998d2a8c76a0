"""Per-stage timings: exclusive nesting, and their Prometheus histograms."""

from __future__ import annotations

import re
import time

from codeprm.analysis.stages import StageClock, stage
from codeprm.integrations.service import Metrics, Outcome


def test_stages_are_exclusive_and_taken_once() -> None:
    clock = StageClock()
    with clock.timed("apply"):
        time.sleep(0.05)
        with clock.timed("diagnostics"):
            time.sleep(0.1)

    class Engine:
        def __init__(self) -> None:
            self.clock = clock

        @stage("prm")
        def model(self) -> int:
            time.sleep(0.02)
            return 7

    assert Engine().model() == 7
    try:
        with clock.timed("exec"):
            raise ValueError  # a stage that raises still counts, and closes
    except ValueError:
        pass
    got = clock.take()
    assert set(got) == {"apply", "diagnostics", "prm", "exec"}
    assert 0.1 <= got["diagnostics"] < 0.2
    assert 0.05 <= got["apply"] < 0.1  # the nested diagnostics are not counted twice
    assert got["prm"] >= 0.02
    assert clock.take() == {}  # taken: the next bundle starts from nothing


def test_metrics_text_holds_a_histogram_per_stage() -> None:
    metrics = Metrics()
    metrics.add(Outcome("ok", 0.5, {}, None, 0.3, {"queue": 0.001, "diagnostics": 0.2}))
    metrics.add(Outcome("timeout", 0.0, None, "slow", 130.0))
    text = metrics.text(1)

    def value(series: str) -> float:
        m = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
        assert m, series
        return float(m.group(1))

    assert value('codeprm_stage_seconds_count{stage="total"}') == 2
    assert value('codeprm_stage_seconds_sum{stage="total"}') == 130.3
    assert value('codeprm_stage_seconds_bucket{stage="total",le="0.5"}') == 1
    assert value('codeprm_stage_seconds_bucket{stage="total",le="120"}') == 1
    assert value('codeprm_stage_seconds_bucket{stage="total",le="+Inf"}') == 2
    assert value('codeprm_stage_seconds_bucket{stage="diagnostics",le="0.1"}') == 0
    assert value('codeprm_stage_seconds_bucket{stage="diagnostics",le="0.25"}') == 1
    assert value('codeprm_stage_seconds_count{stage="prm"}') == 0  # every stage is listed
    assert value('codeprm_samples_total{status="timeout"}') == 1
    # a Prometheus histogram's buckets are cumulative
    buckets = [
        float(v)
        for v in re.findall(
            r'^codeprm_stage_seconds_bucket\{stage="total",le="[^"]+"\} (\S+)$', text, re.M
        )
    ]
    assert buckets == sorted(buckets)
