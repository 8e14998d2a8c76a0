"""Plain frozen dataclasses shared by every layer; no protocol or IO types here.

Coordinates: ``Position.line`` and ``Position.character`` are 0-based, as in LSP, and
characters count in the position encoding recorded next to them (the server's, which
for basedpyright is utf-16). The selector DSL shown to people is 1-based; conversion
happens only at that edge (``codeprm.selectors``).

Paths: ``Location.path`` is a workspace-relative POSIX path for files inside the
workspace, and an absolute ``file://`` URI for files outside it (stdlib, stubs), so that
bundles do not depend on where a workspace was checked out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "information", "hint"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "information", "hint")


@dataclass(frozen=True, order=True, slots=True)
class Position:
    line: int
    character: int

    def to_json(self) -> dict[str, int]:
        return {"line": self.line, "character": self.character}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Position:
        return cls(int(data["line"]), int(data["character"]))


@dataclass(frozen=True, order=True, slots=True)
class Range:
    start: Position
    end: Position

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.to_json(), "end": self.end.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Range:
        return cls(Position.from_json(data["start"]), Position.from_json(data["end"]))

    def contains(self, pos: Position) -> bool:
        return self.start <= pos <= self.end

    def sort_key(self) -> tuple[int, int, int, int]:
        return (self.start.line, self.start.character, self.end.line, self.end.character)


@dataclass(frozen=True, order=True, slots=True)
class Location:
    path: str
    range: Range

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "range": self.range.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Location:
        return cls(str(data["path"]), Range.from_json(data["range"]))

    def sort_key(self) -> tuple[str, int, int, int, int]:
        return (self.path, *self.range.sort_key())


@dataclass(frozen=True, slots=True)
class Diagnostic:
    path: str
    range: Range
    severity: Severity
    message: str
    code: str | None = None
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "range": self.range.to_json(),
            "severity": self.severity,
            "message": self.message,
            "code": self.code,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Diagnostic:
        return cls(
            path=str(data["path"]),
            range=Range.from_json(data["range"]),
            severity=data["severity"],
            message=str(data["message"]),
            code=data.get("code"),
            source=data.get("source"),
        )

    def sort_key(self) -> tuple[Any, ...]:
        return (
            self.path,
            *self.range.sort_key(),
            SEVERITIES.index(self.severity),
            self.code or "",
            self.source or "",
            self.message,
        )


@dataclass(frozen=True, slots=True)
class TextEdit:
    range: Range
    new_text: str

    def to_json(self) -> dict[str, Any]:
        return {"range": self.range.to_json(), "newText": self.new_text}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TextEdit:
        return cls(Range.from_json(data["range"]), str(data["newText"]))


@dataclass(frozen=True, slots=True)
class Hover:
    contents: str
    range: Range | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "contents": self.contents,
            "range": self.range.to_json() if self.range else None,
        }


@dataclass(frozen=True, slots=True)
class Symbol:
    """A document symbol (outline entry); children are nested definitions."""

    name: str
    kind: str
    range: Range
    selection_range: Range
    detail: str | None = None
    children: tuple[Symbol, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "range": self.range.to_json(),
            "selectionRange": self.selection_range.to_json(),
            "detail": self.detail,
            "children": [c.to_json() for c in self.children],
        }
