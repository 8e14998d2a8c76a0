"""Resolution: where a selector points now, how sure codeprm is, and what else it considered.

Ranges are 0-based utf-16 ``types.Range`` (the server's encoding); ``confidence`` is 1.0
for an exact cursor/range or a unique name match, else the winning candidate's score.
``version_check`` says what became of the selector's docVersion: ``none`` (it had none),
``current`` (it is the file's current text), ``relocated`` (an older text the index
remembers; the element was re-found) or ``unverified`` (a text the index never saw; the
element was found by name alone). Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from codeprm.selectors.scoring import THRESHOLD, WEIGHTS, ScoredCandidate
from codeprm.selectors.spec import SpecKind
from codeprm.types import Range

VersionCheck = Literal["none", "current", "relocated", "unverified"]


@dataclass(frozen=True, slots=True)
class Resolution:
    selector: str
    kind: SpecKind
    path: str
    range: Range
    confidence: float
    symbol_id: str | None
    candidates: tuple[ScoredCandidate, ...]
    weights: dict[str, float] = field(default_factory=lambda: dict(WEIGHTS), hash=False)
    threshold: float = THRESHOLD
    version_check: VersionCheck = "none"

    def to_json(self) -> dict[str, Any]:
        return {
            "selector": self.selector,
            "kind": self.kind,
            "path": self.path,
            "range": self.range.to_json(),
            "positionEncoding": "utf-16",
            "confidence": self.confidence,
            "symbolId": self.symbol_id,
            "candidates": [c.to_json() for c in self.candidates],
            "weights": dict(sorted(self.weights.items())),
            "threshold": self.threshold,
            "versionCheck": self.version_check,
        }
