"""Parse an LSP WorkspaceEdit (JSON) and resolve it against texts into a WorkspaceChange; pure.

Supports ``changes`` and ``documentChanges`` (TextDocumentEdit with TextEdit or
AnnotatedTextEdit, CreateFile, RenameFile, DeleteFile and their options). When both are
present ``documentChanges`` wins, as the LSP says. Operations run in order over a
virtual tree, so an edit after a rename refers to the new name. URIs become
workspace-relative paths; a URI outside the workspace stays absolute and the jail
refuses it later. This module reads the JSON only: it does not know lsprotocol.

Errors: malformed JSON or a wrong shape -> UsageError (exit 2) with the JSON line and
pointer; an operation that does not fit the current files (stale version, missing or
existing file, a position not in the text) -> ContentModifiedError (exit 74).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from codeprm import safejson
from codeprm.errors import ContentModifiedError, UnsupportedCapabilityError, UsageError
from codeprm.types import Position, Range, TextEdit
from codeprm.workspace.edits import VirtualTree, WorkspaceChange
from codeprm.workspace.jsonpos import format_pointer, line_of
from codeprm.workspace.positions import PositionEncoding, apply_text_edits


@dataclass(frozen=True, slots=True)
class TextDocumentEditOp:
    path: str
    version: int | None
    edits: tuple[TextEdit, ...]


@dataclass(frozen=True, slots=True)
class CreateFileOp:
    path: str
    overwrite: bool = False
    ignore_if_exists: bool = False


@dataclass(frozen=True, slots=True)
class RenameFileOp:
    old_path: str
    new_path: str
    overwrite: bool = False
    ignore_if_exists: bool = False


@dataclass(frozen=True, slots=True)
class DeleteFileOp:
    path: str
    recursive: bool = False
    ignore_if_not_exists: bool = False


WorkspaceEditOp = TextDocumentEditOp | CreateFileOp | RenameFileOp | DeleteFileOp


@dataclass(frozen=True, slots=True)
class LspWorkspaceEdit:
    """A parsed WorkspaceEdit: operations in the order they apply."""

    ops: tuple[WorkspaceEditOp, ...]

    def paths(self) -> tuple[str, ...]:
        """Every path the edit reads or writes, in first-mention order."""
        seen: dict[str, None] = {}
        for op in self.ops:
            if isinstance(op, RenameFileOp):
                seen.setdefault(op.old_path)
                seen.setdefault(op.new_path)
            else:
                seen.setdefault(op.path)
        return tuple(seen)


class _Shape:
    """Walks the decoded JSON, raising UsageError with pointer and line on a wrong shape."""

    def __init__(self, text: str | None) -> None:
        self.text = text

    def fail(self, pointer: Sequence[str | int], expected: str) -> UsageError:
        line = line_of(self.text, pointer) if self.text is not None else None
        where = format_pointer(pointer) or "/"
        at = f" (line {line})" if line is not None else ""
        return UsageError(
            f"bad WorkspaceEdit at {where}{at}: expected {expected}",
            details={"pointer": where, "line": line, "expected": expected},
        )

    def obj(self, value: Any, pointer: Sequence[str | int]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(pointer, "an object")
        return value

    def arr(self, value: Any, pointer: Sequence[str | int]) -> Sequence[Any]:
        if not isinstance(value, list | tuple):
            raise self.fail(pointer, "an array")
        return value

    def string(self, value: Any, pointer: Sequence[str | int]) -> str:
        if not isinstance(value, str):
            raise self.fail(pointer, "a string")
        return value

    def integer(
        self, value: Any, pointer: Sequence[str | int], *, nullable: bool = False
    ) -> int | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(pointer, "a non-negative integer" + (" or null" if nullable else ""))
        return value

    def flag(self, options: Mapping[str, Any], key: str, pointer: Sequence[str | int]) -> bool:
        value = options.get(key, False)
        if not isinstance(value, bool):
            raise self.fail([*pointer, key], "a boolean")
        return value


def parse_workspace_edit(
    data: str | bytes | Mapping[str, Any], root: str | os.PathLike[str]
) -> LspWorkspaceEdit:
    """Parse a WorkspaceEdit given as JSON text or as decoded JSON; URIs relative to ``root``."""
    text: str | None = None
    if isinstance(data, bytes | str):
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        data = safejson.loads(text, what="WorkspaceEdit")
    shape = _Shape(text)
    edit = shape.obj(data, [])
    roots = _root_forms(root)
    ops: list[WorkspaceEditOp] = []
    if edit.get("documentChanges") is not None:
        for i, change in enumerate(shape.arr(edit["documentChanges"], ["documentChanges"])):
            ops.append(_document_change(shape, change, ["documentChanges", i], roots))
    elif edit.get("changes") is not None:
        changes = shape.obj(edit["changes"], ["changes"])
        for uri, edits in changes.items():
            pointer: list[str | int] = ["changes", uri]
            path = _uri_path(shape, uri, pointer, roots)
            ops.append(TextDocumentEditOp(path, None, _text_edits(shape, edits, pointer)))
    return LspWorkspaceEdit(tuple(ops))


def _document_change(
    shape: _Shape, change: Any, pointer: list[str | int], roots: tuple[str, ...]
) -> WorkspaceEditOp:
    change = shape.obj(change, pointer)
    kind = change.get("kind")
    if kind is None:
        doc = shape.obj(change.get("textDocument"), [*pointer, "textDocument"])
        path = _uri_path(shape, doc.get("uri"), [*pointer, "textDocument", "uri"], roots)
        version = shape.integer(
            doc.get("version"), [*pointer, "textDocument", "version"], nullable=True
        )
        return TextDocumentEditOp(
            path, version, _text_edits(shape, change.get("edits"), [*pointer, "edits"])
        )
    options = shape.obj(change.get("options", {}), [*pointer, "options"])
    opt = [*pointer, "options"]
    if kind == "create":
        return CreateFileOp(
            _uri_path(shape, change.get("uri"), [*pointer, "uri"], roots),
            overwrite=shape.flag(options, "overwrite", opt),
            ignore_if_exists=shape.flag(options, "ignoreIfExists", opt),
        )
    if kind == "rename":
        return RenameFileOp(
            _uri_path(shape, change.get("oldUri"), [*pointer, "oldUri"], roots),
            _uri_path(shape, change.get("newUri"), [*pointer, "newUri"], roots),
            overwrite=shape.flag(options, "overwrite", opt),
            ignore_if_exists=shape.flag(options, "ignoreIfExists", opt),
        )
    if kind == "delete":
        return DeleteFileOp(
            _uri_path(shape, change.get("uri"), [*pointer, "uri"], roots),
            recursive=shape.flag(options, "recursive", opt),
            ignore_if_not_exists=shape.flag(options, "ignoreIfNotExists", opt),
        )
    raise shape.fail([*pointer, "kind"], '"create", "rename" or "delete"')


def _text_edits(shape: _Shape, edits: Any, pointer: list[str | int]) -> tuple[TextEdit, ...]:
    result = []
    for i, edit in enumerate(shape.arr(edits, pointer)):
        at = [*pointer, i]
        edit = shape.obj(edit, at)
        if "snippet" in edit and "newText" not in edit:
            raise UnsupportedCapabilityError(
                f"snippet text edits are not supported ({format_pointer(at)})",
                details={"pointer": format_pointer(at)},
            )
        rng = shape.obj(edit.get("range"), [*at, "range"])
        ends = []
        for side in ("start", "end"):
            p = shape.obj(rng.get(side), [*at, "range", side])
            line = shape.integer(p.get("line"), [*at, "range", side, "line"])
            char = shape.integer(p.get("character"), [*at, "range", side, "character"])
            assert line is not None and char is not None  # not nullable
            ends.append(Position(line, char))
        new_text = shape.string(edit.get("newText"), [*at, "newText"])
        result.append(TextEdit(Range(ends[0], ends[1]), new_text))
    return tuple(result)


def _root_forms(root: str | os.PathLike[str]) -> tuple[str, ...]:
    given = os.path.abspath(os.fspath(root))
    real = os.path.realpath(given)
    return tuple(dict.fromkeys((given, real)))


def _uri_path(shape: _Shape, uri: Any, pointer: list[str | int], roots: tuple[str, ...]) -> str:
    """Workspace-relative POSIX path for a file URI inside a root form; else the absolute path."""
    uri = shape.string(uri, pointer)
    try:
        parts = urlsplit(uri)
    except ValueError as err:  # e.g. an unclosed IPv6 bracket in the authority
        raise shape.fail(pointer, f"a local file:// URI (got {uri!r}: {err})") from err
    if (
        parts.scheme != "file"
        or parts.netloc not in ("", "localhost")
        or parts.query
        or parts.fragment
    ):
        raise shape.fail(pointer, f"a local file:// URI (got {uri!r})")
    try:
        path = unquote(parts.path, errors="strict")
    except UnicodeDecodeError as err:  # %ff: percent-escapes that are not UTF-8
        raise shape.fail(pointer, f"a file:// URI whose escapes are UTF-8 (got {uri!r})") from err
    if "\x00" in path or not path.startswith("/"):
        raise shape.fail(pointer, f"a local file:// URI (got {uri!r})")
    for root in roots:
        base = root.rstrip("/") + "/"
        if path.startswith(base) and len(path) > len(base):
            return path[len(base) :]
    return path


def resolve_workspace_edit(
    edit: LspWorkspaceEdit,
    texts: Mapping[str, str],
    *,
    versions: Mapping[str, int] | None = None,
    position_encoding: PositionEncoding = "utf-16",
) -> WorkspaceChange:
    """The WorkspaceChange ``edit`` makes to ``texts`` (absent key = absent file). Pure.

    ``versions`` (path -> document version), when given, is checked against versioned
    TextDocumentEdits; a mismatch is ContentModifiedError.
    """
    tree = VirtualTree(texts)
    for op in edit.ops:
        _apply_op(tree, op, versions, position_encoding)
    return tree.to_change()


def _modified(message: str, **details: Any) -> ContentModifiedError:
    return ContentModifiedError(message, details=details)


def _apply_op(
    tree: VirtualTree,
    op: WorkspaceEditOp,
    versions: Mapping[str, int] | None,
    encoding: PositionEncoding,
) -> None:
    if isinstance(op, TextDocumentEditOp):
        if not tree.exists(op.path):
            raise _modified(
                f"{op.path} does not exist but the WorkspaceEdit edits it", path=op.path
            )
        if versions is not None and op.version is not None and versions.get(op.path) != op.version:
            raise _modified(
                f"{op.path} is at version {versions.get(op.path)} but the edit was made "
                    f"for version {op.version}",
                path=op.path, expected_version=op.version, actual_version=versions.get(op.path),
            )  # fmt: skip
        tree.write(
            op.path, apply_text_edits(tree.read(op.path), op.edits, encoding=encoding, path=op.path)
        )
    elif isinstance(op, CreateFileOp):
        if tree.exists(op.path) and not op.overwrite:
            if op.ignore_if_exists:
                return
            raise _modified(
                f"{op.path} already exists but the WorkspaceEdit creates it", path=op.path
            )
        tree.write(op.path, "")
    elif isinstance(op, RenameFileOp):
        if not tree.exists(op.old_path):
            raise _modified(
                f"{op.old_path} does not exist but the WorkspaceEdit renames it", path=op.old_path
            )
        if op.old_path == op.new_path:
            return
        if tree.exists(op.new_path):
            if not op.overwrite:
                if op.ignore_if_exists:
                    return
                raise _modified(
                    f"{op.new_path} already exists; the rename would overwrite it", path=op.new_path
                )
            tree.delete(op.new_path)
        tree.rename(op.old_path, op.new_path)
    elif not tree.exists(op.path):
        if not op.ignore_if_not_exists:
            raise _modified(
                f"{op.path} does not exist but the WorkspaceEdit deletes it", path=op.path
            )
    else:
        tree.delete(op.path)
