"""The entry points that read or write a workspace: plan and apply changes, diffs, WorkspaceEdits.

Every entry point takes the workspace lock and runs ``recover`` first (the planning
ones with ``writing=False``: they roll back only journals codeprm wrote and skip, rather
than refuse, a ``.codeprm`` they cannot trust). Before a byte is
written, in this order: the jail (paths, symlinks, ``.git``, allow/deny globs), paths
differing only in case on a case-insensitive file system, read-only files, binary files
and directories, the dirty-worktree guard, and that every file still holds the edit's
exact old text. Only then does ``transaction.commit`` write, keeping each file's
encoding, BOM, line endings and permission bits (a renamed file keeps its source's).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeprm.errors import UnsupportedCapabilityError, WriteDeniedError
from codeprm.workspace.diffs import parse_unified_diff, resolve_patch
from codeprm.workspace.edits import WorkspaceChange, check_old_text
from codeprm.workspace.gitguard import require_clean
from codeprm.workspace.jail import Jail, check_case_collisions, check_writable
from codeprm.workspace.positions import PositionEncoding
from codeprm.workspace.textcodec import DEFAULT_CODEC, FileCodec, decode
from codeprm.workspace.transaction import (
    PlannedWrite,
    RecoveryReport,
    commit,
    recover_locked,
    workspace_lock,
)
from codeprm.workspace.wsedit import parse_workspace_edit, resolve_workspace_edit


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    """What the caller allows: a dirty git worktree, and which paths may be written."""

    allow_dirty: bool = False
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


#: No dirty tree, no globs: the safe default.
DEFAULT_OPTIONS = ApplyOptions()


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What an apply wrote (``txid`` is None for an empty change) and what recovery did first."""

    change: WorkspaceChange
    txid: str | None
    recovery: RecoveryReport

    def to_json(self) -> dict[str, Any]:
        return {
            "txid": self.txid,
            "files": self.change.to_json(),
            "recovery": self.recovery.to_json(),
        }


@dataclass(frozen=True, slots=True)
class FileState:
    """A file as it is on disk now (``data`` None when absent)."""

    data: bytes | None
    text: str | None
    codec: FileCodec
    mode: int | None
    owner: tuple[int, int] | None


def read_state(path: str, real: Path) -> FileState:
    """Read one jailed file; directories, special and binary files are refused (exit 72)."""
    try:
        st = real.lstat()
    except FileNotFoundError:
        return FileState(None, None, DEFAULT_CODEC, None, None)
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise UnsupportedCapabilityError(
            f"{path} is {kind}; codeprm edits regular text files only (nothing was written)",
            details={"path": path, "reason": "not-a-file"},
        )
    data = real.read_bytes()
    text, codec = decode(data, path=path)
    return FileState(data, text, codec, stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid))


def _read_texts(jail: Jail, paths: Iterable[str]) -> dict[str, str]:
    texts = {}
    for path, real in jail.resolve_all(paths).items():
        state = read_state(path, real)
        if state.text is not None:
            texts[path] = state.text
    return texts


def read_texts(
    root: str | os.PathLike[str], paths: Iterable[str], *, options: ApplyOptions = DEFAULT_OPTIONS
) -> dict[str, str]:
    """The current texts of ``paths`` through the jail (absent files are left out). Writes
    nothing."""
    jail = Jail.at(root, options.allow, options.deny)
    return _read_texts(jail, paths)


def plan_diff(
    root: str | os.PathLike[str], diff: str, *, options: ApplyOptions = DEFAULT_OPTIONS
) -> WorkspaceChange:
    """The change a unified diff would make to the workspace now (recovers first, writes nothing
    else)."""
    jail = Jail.at(root, options.allow, options.deny)
    with workspace_lock(jail.root):
        recover_locked(jail.root, writing=False)
        patch = parse_unified_diff(diff)
        return resolve_patch(patch, _read_texts(jail, patch.paths()))


def plan_workspace_edit(
    root: str | os.PathLike[str],
    edit: str | bytes | Mapping[str, Any],
    *,
    options: ApplyOptions = DEFAULT_OPTIONS,
    versions: Mapping[str, int] | None = None,
    position_encoding: PositionEncoding = "utf-16",
) -> WorkspaceChange:
    """The change an LSP WorkspaceEdit would make to the workspace now (recovers first)."""
    jail = Jail.at(root, options.allow, options.deny)
    with workspace_lock(jail.root):
        recover_locked(jail.root, writing=False)
        parsed = parse_workspace_edit(edit, root)
        texts = _read_texts(jail, parsed.paths())
        return resolve_workspace_edit(
            parsed, texts, versions=versions, position_encoding=position_encoding
        )


def apply_change(
    root: str | os.PathLike[str],
    change: WorkspaceChange,
    *,
    options: ApplyOptions = DEFAULT_OPTIONS,
) -> ApplyResult:
    """Check, then write ``change`` atomically. See the module docstring for the checks."""
    jail = Jail.at(root, options.allow, options.deny)
    with workspace_lock(jail.root):
        recovery = recover_locked(jail.root)
        return apply_locked(jail, change, options, recovery)


def apply_diff(
    root: str | os.PathLike[str],
    diff: str,
    *,
    options: ApplyOptions = DEFAULT_OPTIONS,
    three_way: bool = False,
) -> ApplyResult:
    """Apply a unified diff; ``three_way`` merges through ``git apply --3way`` (see
    ``threeway``)."""
    if three_way:
        from codeprm.workspace.threeway import apply_diff_3way

        return apply_diff_3way(root, diff, options=options)
    jail = Jail.at(root, options.allow, options.deny)
    with workspace_lock(jail.root):
        recovery = recover_locked(jail.root)
        patch = parse_unified_diff(diff)
        precheck(jail, patch.paths(), options)
        change = resolve_patch(patch, _read_texts(jail, patch.paths()))
        return apply_locked(jail, change, options, recovery, dirty_checked=True)


def apply_workspace_edit(
    root: str | os.PathLike[str],
    edit: str | bytes | Mapping[str, Any],
    *,
    options: ApplyOptions = DEFAULT_OPTIONS,
    versions: Mapping[str, int] | None = None,
    position_encoding: PositionEncoding = "utf-16",
) -> ApplyResult:
    """Apply an LSP WorkspaceEdit (JSON text or decoded JSON)."""
    jail = Jail.at(root, options.allow, options.deny)
    with workspace_lock(jail.root):
        recovery = recover_locked(jail.root)
        parsed = parse_workspace_edit(edit, root)
        precheck(jail, parsed.paths(), options)
        texts = _read_texts(jail, parsed.paths())
        change = resolve_workspace_edit(
            parsed, texts, versions=versions, position_encoding=position_encoding
        )
        return apply_locked(jail, change, options, recovery, dirty_checked=True)


def precheck(jail: Jail, paths: Iterable[str], options: ApplyOptions) -> dict[str, Path]:
    """The checks that need only the paths: jail, case collisions, read-only, dirty worktree.

    Runs before a diff or WorkspaceEdit is resolved, so that a refusal (exit 71) is reported
    rather than a conflict with content the caller was not allowed to change anyway.
    """
    targets = jail.resolve_all(paths)
    check_case_collisions(targets)
    for path, real in targets.items():
        check_writable(path, real, creating=not real.exists())
    require_clean(jail.root, list(targets), allow_dirty=options.allow_dirty)
    return targets


def apply_locked(
    jail: Jail,
    change: WorkspaceChange,
    options: ApplyOptions,
    recovery: RecoveryReport,
    *,
    dirty_checked: bool = False,
) -> ApplyResult:
    """The checks and the commit, for a caller holding the lock who has recovered."""
    if not change:
        return ApplyResult(change, None, recovery)
    targets = jail.resolve_all(change.paths)
    check_case_collisions(targets)
    states: dict[str, FileState] = {}
    for edit in change.edits:
        real = targets[edit.path]
        check_writable(edit.path, real, creating=edit.old_text is None or edit.new_text is None)
        states[edit.path] = read_state(edit.path, real)
    if not dirty_checked:
        require_clean(jail.root, change.paths, allow_dirty=options.allow_dirty)
    for edit in change.edits:
        check_old_text(edit, states[edit.path].text)
    writes = []
    for edit in change.edits:
        state = states[edit.path]
        like = state if state.data is not None else states.get(edit.renamed_from or "", state)
        new = None if edit.new_text is None else like.codec.encode(edit.new_text, path=edit.path)
        writes.append(
            PlannedWrite(edit.path, targets[edit.path], state.data, new, like.mode, like.owner)
        )

    def guard(write: PlannedWrite) -> None:
        if jail.resolve(write.path) != write.target:
            raise WriteDeniedError(
                f"{write.path} moved outside its checked location during the apply",
                details={"path": write.path, "reason": "moved"},
            )

    txid = commit(jail.root, writes, guard=guard)
    return ApplyResult(change, txid, recovery)
