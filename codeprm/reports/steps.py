"""Read step bundles into the facts a CI report shows; pure, no IO, no rendering.

A step bundle (from ``codeprm step`` / ``score``) carries ``processReward.total``,
``request.targets``, ``facts.introduced`` / ``facts.fixed`` (diagnostics with 0-based
lines and UTF-16 columns plus the enclosing definition), ``facts.after.counts``,
``facts.safety.passed`` and, in ``meta``, optionally the ``commit`` and its ``subject``.
Every report renders from ``StepFacts`` so that they agree on order and identity. A
bundle with ``status: "error"`` becomes a step with no reward and no diagnostics.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from codeprm.errors import UsageError

SEVERITY_RANK = {"error": 0, "warning": 1, "information": 2, "hint": 3}
FINGERPRINT_KEY = "codeprmIdentity/v1"


@dataclass(frozen=True)
class ReportDiagnostic:
    """One diagnostic a step introduced or fixed; positions are 0-based, columns UTF-16."""

    path: str
    start_line: int
    start_character: int
    end_line: int
    end_character: int
    severity: str
    message: str
    code: str | None
    source: str | None
    enclosing: str

    @property
    def rule_id(self) -> str:
        """``<source>/<code>`` (e.g. ``basedpyright/reportAttributeAccessIssue``), else
        ``codeprm/<severity>``."""
        if self.code:
            return f"{self.source or 'codeprm'}/{self.code}"
        return f"codeprm/{self.severity}"

    @property
    def fingerprint(self) -> str:
        """sha256 over the position-free identity: moved code keeps its fingerprint."""
        identity = [
            self.path,
            self.source or "",
            self.code or "",
            self.severity,
            self.message,
            self.enclosing,
        ]
        encoded = json.dumps(identity, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()

    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.path,
            self.start_line,
            self.start_character,
            self.end_line,
            self.end_character,
            SEVERITY_RANK.get(self.severity, len(SEVERITY_RANK)),
            self.rule_id,
            self.message,
            self.enclosing,
        )


@dataclass(frozen=True)
class StepFacts:
    """What the reports need from one step bundle; ``index`` is its position in the list."""

    index: int
    bundle_id: str | None
    commit: str | None
    subject: str | None
    reward: float | None
    components: Mapping[str, Any]
    targets: tuple[str, ...]
    introduced: tuple[ReportDiagnostic, ...]
    fixed: tuple[ReportDiagnostic, ...]
    after_counts: Mapping[str, int] | None
    safe: bool | None
    error: str | None  # the bundle's error message when its status is "error"

    @property
    def short_commit(self) -> str | None:
        return self.commit[:7] if self.commit else None

    def introduced_of(self, severity: str) -> tuple[ReportDiagnostic, ...]:
        return tuple(d for d in self.introduced if d.severity == severity)


def read_steps(bundles: Iterable[Mapping[str, Any]]) -> list[StepFacts]:
    """The facts of each bundle, in the given order. Malformed bundles are a UsageError naming
    them."""
    return [_step(index, bundle) for index, bundle in enumerate(bundles)]


def _step(index: int, bundle: Any) -> StepFacts:
    where = f"bundle {index}"
    if not isinstance(bundle, Mapping):
        raise UsageError(f"{where}: a step bundle must be a JSON object")
    meta = bundle.get("meta") if isinstance(bundle.get("meta"), Mapping) else {}
    commit = _opt_str(meta.get("commit"))
    subject = _opt_str(meta.get("subject"))
    bundle_id = _opt_str(bundle.get("bundleId"))
    request = bundle.get("request") if isinstance(bundle.get("request"), Mapping) else {}
    targets = tuple(str(t) for t in request.get("targets") or ())
    if bundle.get("status") == "error":
        error = bundle.get("error") if isinstance(bundle.get("error"), Mapping) else {}
        return StepFacts(
            index,
            bundle_id,
            commit,
            subject,
            None,
            {},
            targets,
            (),
            (),
            None,
            None,
            str(error.get("message") or "error"),
        )
    reward_block = bundle.get("processReward")
    if not isinstance(reward_block, Mapping) or not isinstance(
        reward_block.get("total"), (int, float)
    ):
        raise UsageError(f"{where}: not a step bundle: processReward.total is missing")
    facts = bundle.get("facts")
    if not isinstance(facts, Mapping):
        raise UsageError(f"{where}: not a step bundle: facts is missing")
    after = facts.get("after")
    counts = after.get("counts") if isinstance(after, Mapping) else None
    safety = facts.get("safety")
    safe = safety.get("passed") if isinstance(safety, Mapping) else None
    return StepFacts(
        index=index,
        bundle_id=bundle_id,
        commit=commit,
        subject=subject,
        reward=float(reward_block["total"]),
        components=dict(reward_block.get("components") or {}),
        targets=targets,
        introduced=_diagnostics(facts.get("introduced"), f"{where}: facts.introduced"),
        fixed=_diagnostics(facts.get("fixed"), f"{where}: facts.fixed"),
        after_counts={k: int(v) for k, v in counts.items()}
        if isinstance(counts, Mapping)
        else None,
        safe=safe if isinstance(safe, bool) else None,
        error=None,
    )


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _diagnostics(items: Any, where: str) -> tuple[ReportDiagnostic, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise UsageError(f"{where} must be a list")
    out = []
    for n, item in enumerate(items):
        try:
            start, end = item["range"]["start"], item["range"]["end"]
            out.append(
                ReportDiagnostic(
                    path=str(item["path"]),
                    start_line=int(start["line"]),
                    start_character=int(start["character"]),
                    end_line=int(end["line"]),
                    end_character=int(end["character"]),
                    severity=str(item["severity"]),
                    message=str(item["message"]),
                    code=None if item.get("code") is None else str(item["code"]),
                    source=None if item.get("source") is None else str(item["source"]),
                    enclosing=str(item.get("enclosing") or ""),
                )
            )
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(
                f"{where}[{n}]: malformed diagnostic ({type(err).__name__}: {err})"
            ) from err
    return tuple(sorted(out, key=ReportDiagnostic.sort_key))


def introduced_in_order(steps: Iterable[StepFacts]) -> list[tuple[StepFacts, ReportDiagnostic]]:
    """Every introduced diagnostic with its step: by step, then path and position."""
    return [(step, d) for step in steps for d in step.introduced]
