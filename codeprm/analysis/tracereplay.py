"""Replaying a recorded invocation: its workspace unchanged, its bundles and end record the same.

``codeprm trace replay`` re-runs an invocation's command line over a Workbench whose
session answers from the recorded frames (frame playback: ``lsp.playback.PlaybackServer``) and
collects what it
records; this module checks everything around that run: the chain, the workspace
digests, the exit code, the end record and every bundle (``meta`` aside: wall-clock
facts no replay can re-measure). Any difference is a replay mismatch (76).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from codeprm.analysis.files import workspace_digest
from codeprm.bundles import canonical_bytes, trace
from codeprm.errors import ReplayMismatchError

#: (argv, collector, recorded frames, recorded cwd) -> (exit code, error line): one re-run
Rerun = Callable[
    [list[str], trace.Collector, tuple[tuple[str, str], ...], str], tuple[int, str | None]
]


def _strip_meta(bundle: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in bundle.items() if k != "meta"}


def replay_invocation(
    inv: trace.Invocation, rerun: Rerun, secret: bytes | None
) -> list[dict[str, Any]]:
    """Re-run one recorded invocation against its frames; its bundles and end record must come out
    the same."""
    inv.verify(secret)
    for ws in inv.of("workspace"):
        root = Path(ws["root"])
        if not root.is_dir() or workspace_digest(root) != ws["digest"]:
            raise ReplayMismatchError(
                f"invocation {inv.inv}: the workspace {root} changed since it was traced "
                "(digest mismatch)"
            )
    end = inv.end or {}
    cwd = inv.begin.get("cwd")
    if not isinstance(cwd, str):
        raise ReplayMismatchError(
            f"invocation {inv.inv}: the begin record has no cwd (the trace was modified)"
        )
    collector = trace.Collector()
    code, error = rerun(inv.argv, collector, tuple(inv.frames), cwd)
    error = error if code else None
    recorded = inv.bundles
    if code != end.get("exitCode"):
        raise ReplayMismatchError(
            f"invocation {inv.inv}: replay exited {code}, the trace says {end.get('exitCode')}"
        )
    expected = trace.end_fields(code, error, collector.bundles)
    got = {k: v for k, v in end.items() if k not in ("inv", "seq", "type", "digest")}
    if got != expected:
        differing = sorted(
            k for k in set(got) | set(expected) if got.get(k, ...) != expected.get(k, ...)
        )
        raise ReplayMismatchError(
            f"invocation {inv.inv}: the end record differs from the replay in "
            f"{', '.join(differing)}"
        )
    if len(collector.bundles) != len(recorded):
        raise ReplayMismatchError(
            f"invocation {inv.inv}: replay made {len(collector.bundles)} bundle(s), the "
            f"trace has {len(recorded)}"
        )
    out = []
    for n, (new, old) in enumerate(zip(collector.bundles, recorded, strict=True)):
        if canonical_bytes(_strip_meta(new)) != canonical_bytes(_strip_meta(old)):
            differing = sorted(
                k for k in set(new) | set(old) if k != "meta" and new.get(k) != old.get(k)
            )
            raise ReplayMismatchError(
                f"invocation {inv.inv}: bundle {n} differs from the trace in {', '.join(differing)}"
            )
        # meta holds wall-clock facts (timings, timestamps) that no replay can re-measure
        out.append({**new, "meta": old["meta"]})
    return out
