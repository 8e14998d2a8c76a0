"""The edit model: files going from an exact old text to an exact new text; pure, no IO.

A ``WorkspaceChange`` is what every parser (unified diff, LSP WorkspaceEdit, git 3-way)
resolves to and what the transaction writes. ``old_text is None`` means the file does
not exist before (create); ``new_text is None`` means it does not exist after (delete).
A rename is a delete of the source plus a create that names it in ``renamed_from`` (the
created file keeps the source's encoding and permissions).

``apply_to_texts`` is the pure evaluation the reward engine uses to look at a step's
result without touching the disk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from codeprm.errors import ContentModifiedError, UsageError

EditKind = Literal["create", "delete", "modify"]


def text_sha256(text: str | None) -> str | None:
    """Hash of a text as UTF-8 (surrogates kept), or None for an absent file."""
    if text is None:
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class FileEdit:
    """One file, from ``old_text`` to ``new_text`` (None = absent). Paths are workspace-relative
    POSIX."""

    path: str
    old_text: str | None
    new_text: str | None
    renamed_from: str | None = None

    def __post_init__(self) -> None:
        if self.old_text is None and self.new_text is None:
            raise UsageError(f"edit of {self.path} neither reads nor writes a file")
        if self.renamed_from is not None and (self.old_text is not None or self.new_text is None):
            raise UsageError(
                f"edit of {self.path}: only a created file can be renamed_from another"
            )

    @property
    def kind(self) -> EditKind:
        if self.old_text is None:
            return "create"
        if self.new_text is None:
            return "delete"
        return "modify"

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "kind": self.kind,
            "renamedFrom": self.renamed_from,
            "oldSha256": text_sha256(self.old_text),
            "newSha256": text_sha256(self.new_text),
        }


@dataclass(frozen=True, slots=True)
class WorkspaceChange:
    """A set of file edits, one per path, kept sorted by path."""

    edits: tuple[FileEdit, ...] = field(default=())

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.edits, key=lambda e: e.path))
        seen: set[str] = set()
        for edit in ordered:
            if edit.path in seen:
                raise UsageError(f"two edits for {edit.path} in one change")
            seen.add(edit.path)
        for edit in ordered:
            if edit.renamed_from is None:
                continue
            source = next((e for e in ordered if e.path == edit.renamed_from), None)
            if source is None or source.new_text is not None:
                raise UsageError(
                    f"{edit.path} is renamed from {edit.renamed_from}, which the change "
                    "does not delete"
                )
        object.__setattr__(self, "edits", ordered)

    @classmethod
    def of(cls, edits: Iterable[FileEdit]) -> WorkspaceChange:
        return cls(tuple(edits))

    @classmethod
    def between(
        cls,
        old: Mapping[str, str],
        new: Mapping[str, str],
        renames: Mapping[str, str] | None = None,
    ) -> WorkspaceChange:
        """The change turning the files ``old`` into ``new``; ``renames`` maps new path -> old
        path."""
        renames = renames or {}
        edits = []
        for path in sorted(set(old) | set(new)):
            before, after = old.get(path), new.get(path)
            if before == after:
                continue
            source = renames.get(path)
            renamed = (
                source
                if source is not None
                and before is None
                and source in old
                and source not in new
                and source != path
                else None
            )
            edits.append(FileEdit(path, before, after, renamed))
        return cls(tuple(edits))

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(e.path for e in self.edits)

    def get(self, path: str) -> FileEdit | None:
        return next((e for e in self.edits if e.path == path), None)

    def __bool__(self) -> bool:
        return bool(self.edits)

    def __len__(self) -> int:
        return len(self.edits)

    def old_texts(self) -> dict[str, str]:
        return {e.path: e.old_text for e in self.edits if e.old_text is not None}

    def new_texts(self) -> dict[str, str]:
        return {e.path: e.new_text for e in self.edits if e.new_text is not None}

    def to_json(self) -> list[dict[str, object]]:
        return [e.to_json() for e in self.edits]


def apply_to_texts(texts: Mapping[str, str], change: WorkspaceChange) -> dict[str, str]:
    """The files after ``change``; absent keys are absent files. Pure: ``texts`` is not touched.

    Raises ContentModifiedError when a file's text is not the edit's exact old text.
    """
    result = dict(texts)
    for edit in change.edits:
        check_old_text(edit, texts.get(edit.path))
    for edit in change.edits:
        if edit.new_text is None:
            result.pop(edit.path, None)
        else:
            result[edit.path] = edit.new_text
    return result


def check_old_text(edit: FileEdit, current: str | None) -> None:
    """Raise ContentModifiedError unless ``current`` is exactly ``edit.old_text``."""
    if current == edit.old_text:
        return
    if edit.old_text is None:
        reason = "exists but the edit creates it"
    elif current is None:
        reason = "does not exist but the edit expects it"
    else:
        reason = "changed since the edit was computed"
    raise ContentModifiedError(
        f"{edit.path} {reason}",
        details={
            "path": edit.path,
            "expected_sha256": text_sha256(edit.old_text),
            "actual_sha256": text_sha256(current),
        },
    )


class VirtualTree:
    """A mutable in-memory file tree for resolving ordered operations; yields a WorkspaceChange.

    It tracks renames so that a file moved (and then edited) keeps its origin.
    """

    def __init__(self, texts: Mapping[str, str]) -> None:
        self._initial = dict(texts)
        self._current = dict(texts)
        self._origin: dict[str, str] = {}

    def exists(self, path: str) -> bool:
        return path in self._current

    def read(self, path: str) -> str:
        return self._current[path]

    def write(self, path: str, text: str) -> None:
        if path not in self._current:
            self._origin.pop(path, None)
        self._current[path] = text

    def delete(self, path: str) -> None:
        del self._current[path]
        self._origin.pop(path, None)

    def rename(self, old: str, new: str) -> None:
        if old == new:
            return
        self._current[new] = self._current.pop(old)
        self._origin[new] = self._origin.pop(old, old)

    def to_change(self) -> WorkspaceChange:
        return WorkspaceChange.between(self._initial, self._current, self._origin)
