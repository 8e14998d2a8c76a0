"""Step records for the PRM: the scoring input, the labelled training record, JSONL and TRL IO.

Pure data plus line-oriented file IO; knows nothing of torch. A ``StepRecord`` is one edit
step with its label; ``StepInput`` is what a caller hands the scorer (no label).

The TRL "stepwise supervision" format is ``{"prompt": str, "completions": [str], "labels":
[bool]}`` per JSON line. Each of our records becomes one example with one completion (the
edit as a unified diff); the full record rides along under ``"codeprm"`` (TRL ignores extra
columns) so that export followed by import gives back identical records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from codeprm.errors import UsageError

#: Bump when a field of StepRecord changes meaning; readers reject other versions.
RECORD_SCHEMA_VERSION = 1

LabelSource = Literal["equivalence", "execution", "outcome"]
Split = Literal["train", "valid", "test"]
LABEL_SOURCES: tuple[str, ...] = ("equivalence", "execution", "outcome")
SPLITS: tuple[str, ...] = ("train", "valid", "test")


def canonical_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, unicode kept."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass(frozen=True, slots=True)
class StepInput:
    """One edit step to score.

    ``before``/``after`` are the text of the edited region (usually one function) before
    and after the edit; ``context`` is code around it (e.g. the lines above the function);
    ``facts`` are optional language-server facts, serialised deterministically.
    """

    before: str
    after: str
    context: str = ""
    task: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict, hash=False)
    path: str = ""


@dataclass(frozen=True, slots=True)
class StepRecord:
    """A labelled edit step.

    ``bug_id`` groups the alternative steps proposed for one state (one injected bug, or one
    trajectory step); ``mutation`` is the kind of bug injected, ``candidate`` the kind of
    repair this step is (``correct``, ``near-miss``, ``other-mutation``, ``broken-name``,
    or ``trajectory`` for recorded steps). ``value`` is a soft target in [0, 1] when the
    label came from outcome propagation.
    """

    before: str
    after: str
    diff: str
    label: bool
    label_source: LabelSource = "equivalence"
    context: str = ""
    task: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict, hash=False)
    bug_id: str = ""
    mutation: str = ""
    candidate: str = ""
    source_path: str = ""
    split: Split = "train"
    value: float | None = None

    @property
    def id(self) -> str:
        """Content id: sha256 over the canonical JSON of the record (first 16 hex digits)."""
        return hashlib.sha256(canonical_json(self.to_json()).encode()).hexdigest()[:16]

    def to_input(self) -> StepInput:
        return StepInput(
            before=self.before,
            after=self.after,
            context=self.context,
            task=self.task,
            facts=dict(self.facts),
            path=self.source_path,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": RECORD_SCHEMA_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = dict(value) if f.name == "facts" else value
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepRecord:
        version = data.get("schema_version", RECORD_SCHEMA_VERSION)
        if version != RECORD_SCHEMA_VERSION:
            from codeprm.errors import VersionSkewError

            raise VersionSkewError(
                f"step record schema version {version} is not {RECORD_SCHEMA_VERSION}"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"schema_version"})
        if unknown:
            raise UsageError(f"unknown step record fields: {', '.join(unknown)}")
        for key in ("before", "after", "diff", "label"):
            if key not in data:
                raise UsageError(f"step record lacks the field {key!r}")
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["label"] = bool(kwargs["label"])
        if kwargs.get("label_source", "equivalence") not in LABEL_SOURCES:
            raise UsageError(f"bad label_source {kwargs['label_source']!r}")
        if kwargs.get("split", "train") not in SPLITS:
            raise UsageError(f"bad split {kwargs['split']!r}")
        kwargs["facts"] = dict(kwargs.get("facts") or {})
        return cls(**kwargs)

    def with_(self, **changes: Any) -> StepRecord:
        return replace(self, **changes)


# --------------------------------------------------------------------------- JSONL


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write rows as canonical JSON lines (atomically); return how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(canonical_json(row) + "\n")
            n += 1
    tmp.replace(path)
    return n


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The objects of a JSONL file, through the one JSONL reader (``bundles.jsonl``)."""
    from codeprm.bundles.jsonl import iter_jsonl

    for where, row in iter_jsonl(Path(path)):
        if not isinstance(row, dict):
            raise UsageError(f"{where}: expected a JSON object")
        yield row


def write_records(path: Path, records: Iterable[StepRecord]) -> int:
    return write_jsonl(path, (r.to_json() for r in records))


def read_records(path: Path) -> list[StepRecord]:
    """Read step records; TRL stepwise rows (with ``completions``) are imported too."""
    out: list[StepRecord] = []
    for row in read_jsonl(path):
        if "completions" in row:
            out.extend(from_trl_row(row))
        else:
            out.append(StepRecord.from_json(row))
    return out


def read_step_inputs(path: Path) -> list[StepInput]:
    """Read steps to score: records, or plain objects with before/after[/context/task/facts]."""
    out: list[StepInput] = []
    for row in read_jsonl(path):
        if "completions" in row:
            out.extend(r.to_input() for r in from_trl_row(row))
            continue
        if "before" not in row or "after" not in row:
            raise UsageError("each step to score needs 'before' and 'after'")
        out.append(
            StepInput(
                before=str(row["before"]),
                after=str(row["after"]),
                context=str(row.get("context", "")),
                task=str(row.get("task", "")),
                facts=dict(row.get("facts") or {}),
                path=str(row.get("path", row.get("source_path", ""))),
            )
        )
    return out


# --------------------------------------------------------------------------- TRL


def trl_prompt(task: str, context: str, before: str) -> str:
    """The prompt of a TRL example: the task, the code context and the code before the step."""
    parts = []
    if task:
        parts.append(f"# Task\n{task.rstrip()}\n")
    if context:
        parts.append(f"# Context\n{context.rstrip()}\n")
    parts.append(f"# Code\n{before.rstrip()}\n")
    return "\n".join(parts)


def to_trl_row(record: StepRecord) -> dict[str, Any]:
    return {
        "prompt": trl_prompt(record.task, record.context, record.before),
        "completions": [record.diff],
        "labels": [record.label],
        "codeprm": record.to_json(),
    }


def export_trl(path: Path, records: Iterable[StepRecord]) -> int:
    """Write records in TRL's stepwise-supervision JSONL format (one step per example)."""
    return write_jsonl(path, (to_trl_row(r) for r in records))


def from_trl_row(row: Mapping[str, Any]) -> list[StepRecord]:
    """Records from one TRL stepwise example.

    Our own exports carry the full record and come back exactly. A foreign example with
    several completions is read as a trajectory: step ``i`` sees the prompt and the
    completions before it as context; ``before``/``after`` are the text before and after
    appending the completion, since the foreign format has no code state.
    """
    if "codeprm" in row:
        return [StepRecord.from_json(row["codeprm"])]
    try:
        prompt = str(row["prompt"])
        completions = [str(c) for c in row["completions"]]
        labels = [bool(x) for x in row["labels"]]
    except (KeyError, TypeError) as err:
        raise UsageError("a TRL stepwise row needs prompt, completions and labels") from err
    if len(completions) != len(labels):
        raise UsageError("a TRL stepwise row needs as many labels as completions")
    digest = hashlib.sha256(prompt.encode()).hexdigest()
    group = digest[:12]
    # held-out splits by a hash of the prompt, as mined records split by file (10% / 10%)
    bucket = int(digest[:8], 16) % 100
    split: Split = "test" if bucket < 10 else "valid" if bucket < 20 else "train"
    out = []
    state = ""
    for i, (completion, label) in enumerate(zip(completions, labels, strict=True)):
        new_state = state + completion + "\n"
        out.append(
            StepRecord(
                before=state,
                after=new_state,
                diff=completion,
                label=label,
                label_source="outcome",
                task=prompt,
                bug_id=f"trl-{group}-{i}",
                candidate="trajectory",
                split=split,
            )
        )
        state = new_state
    return out


def import_trl(path: Path) -> list[StepRecord]:
    out: list[StepRecord] = []
    for row in read_jsonl(path):
        out.extend(from_trl_row(row))
    return out


def group_by_bug(records: Sequence[StepRecord]) -> dict[str, list[int]]:
    """bug_id -> indices of its records, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(r.bug_id or f"_single_{i}", []).append(i)
    return groups
