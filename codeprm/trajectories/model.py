"""The trajectory format: schema-versioned JSONL, one edit step per line.

A line is an object

    {"schema": "codeprm.trajectory/1", "index": 0, "id": "...", "task": null,
     "confidence": 1.0, "source": {"kind": "git", "ref": "<sha>"},
     "files": [{"path": "pkg/a.py", "before": "<text>|null", "after": "<text>|null",
                "beforeSha256": "<hex>|null", "afterSha256": "<hex>|null"}]}

``before``/``after`` are the whole texts of each touched file (null = absent), so a
trajectory replays with no repository at hand; the hashes let a reader check them.
Importers (SWE-agent, OpenHands, git) all produce ``Step`` values; ``read_jsonl``
reports a malformed or truncated line with its line number (exit 2), an unknown schema
version with exit 10.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from codeprm.bundles.jsonl import iter_jsonl
from codeprm.errors import UsageError, VersionSkewError
from codeprm.workspace.edits import FileEdit, WorkspaceChange, text_sha256

TRAJECTORY_SCHEMA = "codeprm.trajectory/1"


@dataclass(frozen=True)
class Step:
    """One edit step: the files it touched, before and after."""

    index: int
    change: WorkspaceChange
    id: str | None = None
    task: str | None = None
    confidence: float = 1.0
    source: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": TRAJECTORY_SCHEMA,
            "index": self.index,
            "id": self.id,
            "task": self.task,
            "confidence": self.confidence,
            "source": self.source,
            "files": [
                {
                    "path": e.path,
                    "before": e.old_text,
                    "after": e.new_text,
                    "beforeSha256": text_sha256(e.old_text),
                    "afterSha256": text_sha256(e.new_text),
                }
                for e in self.change.edits
            ],
        }

    @classmethod
    def from_json(cls, data: Any, *, where: str = "step") -> Step:
        if not isinstance(data, dict):
            raise UsageError(f"{where}: a trajectory step must be a JSON object")
        schema = data.get("schema")
        if schema != TRAJECTORY_SCHEMA:
            raise VersionSkewError(f"{where}: unknown trajectory schema {schema!r} (expected {TRAJECTORY_SCHEMA})")
        try:
            edits = []
            for f in data["files"]:
                before, after = f.get("before"), f.get("after")
                for side, text in (("before", before), ("after", after)):
                    expected = f.get(f"{side}Sha256")
                    if expected is not None and text_sha256(text) != expected:
                        raise UsageError(f"{where}: {f['path']}: {side} text does not match {side}Sha256")
                edits.append(FileEdit(str(f["path"]), before, after))
            confidence = float(data.get("confidence", 1.0))
            if not 0.0 <= confidence <= 1.0:
                raise UsageError(f"{where}: confidence must lie in [0, 1]")
            return cls(
                index=int(data["index"]),
                change=WorkspaceChange.of(edits),
                id=data.get("id"),
                task=data.get("task"),
                confidence=confidence,
                source=dict(data.get("source") or {}),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(f"{where}: malformed trajectory step: {err}") from err


def write_jsonl(steps: Iterable[Step], out: TextIO) -> int:
    """Write steps as they come (a long run never loses what it already wrote)."""
    n = 0
    for step in steps:
        out.write(json.dumps(step.to_json(), sort_keys=True, ensure_ascii=False) + "\n")
        out.flush()
        n += 1
    return n


def read_jsonl(path: Path) -> Iterator[Step]:
    """Steps of a trajectory file, checked line by line."""
    for where, data in iter_jsonl(path):
        yield Step.from_json(data, where=where)
