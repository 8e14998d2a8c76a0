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
            raise VersionSkewError(
                f"{where}: unknown trajectory schema {schema!r} (expected {TRAJECTORY_SCHEMA})"
            )
        try:
            files = data["files"]
            if not isinstance(files, list):
                raise UsageError(f'{where}: "files" must be an array of objects')
            edits = [_file_edit(f, f"{where}: files[{i}]") for i, f in enumerate(files)]
            confidence = data.get("confidence", 1.0)
            if (
                isinstance(confidence, bool)
                or not isinstance(confidence, int | float)
                or not 0.0 <= confidence <= 1.0
            ):
                raise UsageError(f"{where}: confidence must be a number in [0, 1]")
            index = data["index"]
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise UsageError(f"{where}: index must be a non-negative integer")
            for key in ("id", "task"):
                if data.get(key) is not None and not isinstance(data[key], str):
                    raise UsageError(f"{where}: {key} must be a string or null")
            source = data.get("source") or {}
            if not isinstance(source, dict):
                raise UsageError(f"{where}: source must be an object")
            return cls(
                index=index,
                change=WorkspaceChange.of(edits),
                id=data.get("id"),
                task=data.get("task"),
                confidence=float(confidence),
                source=dict(source),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise UsageError(f"{where}: malformed trajectory step: {err}") from err


def _file_edit(f: Any, where: str) -> FileEdit:
    """One entry of a step's ``files``, every field checked for its type first."""
    if not isinstance(f, dict):
        raise UsageError(f"{where}: a file entry must be an object with path, before and after")
    path = f.get("path")
    if not isinstance(path, str) or not path:
        raise UsageError(f"{where}: path must be a non-empty string")
    texts: dict[str, str | None] = {}
    for side in ("before", "after"):
        text, expected = f.get(side), f.get(f"{side}Sha256")
        if text is not None and not isinstance(text, str):
            raise UsageError(f"{where}: {path}: {side} must be a string or null")
        if expected is not None and not isinstance(expected, str):
            raise UsageError(f"{where}: {path}: {side}Sha256 must be a string or null")
        if expected is not None and text_sha256(text) != expected:
            raise UsageError(f"{where}: {path}: {side} text does not match {side}Sha256")
        texts[side] = text
    return FileEdit(path, texts["before"], texts["after"])


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
