"""The only code that writes the user's files or runs git: edits, jail, git guard, atomic apply.

Pure parts (no IO): ``edits`` (the model and ``apply_to_texts``), ``diffs`` (unified
diffs), ``wsedit`` and ``positions`` (LSP WorkspaceEdits), ``preview``. IO parts: ``jail``,
``gitguard``, ``private`` (``.codeprm`` opened without following links, the per-user
journal key), ``transaction`` (journal and crash recovery), ``apply`` (the checked entry
points), ``threeway`` (``git apply --3way``), ``snapshot``. No click, no language server.
GitPython is imported only when a git operation runs.
"""

from __future__ import annotations

from codeprm.workspace.apply import (
    ApplyOptions,
    ApplyResult,
    apply_change,
    apply_diff,
    apply_workspace_edit,
    plan_diff,
    plan_workspace_edit,
    read_texts,
)
from codeprm.workspace.diffs import Patch, parse_unified_diff, resolve_patch
from codeprm.workspace.edits import FileEdit, WorkspaceChange, apply_to_texts
from codeprm.workspace.preview import preview
from codeprm.workspace.snapshot import Snapshot, changed_since, snapshot
from codeprm.workspace.transaction import RecoveryReport, recover
from codeprm.workspace.wsedit import LspWorkspaceEdit, parse_workspace_edit, resolve_workspace_edit

__all__ = [
    "ApplyOptions",
    "ApplyResult",
    "FileEdit",
    "LspWorkspaceEdit",
    "Patch",
    "RecoveryReport",
    "Snapshot",
    "WorkspaceChange",
    "apply_change",
    "apply_diff",
    "apply_to_texts",
    "apply_workspace_edit",
    "changed_since",
    "parse_unified_diff",
    "parse_workspace_edit",
    "plan_diff",
    "plan_workspace_edit",
    "preview",
    "read_texts",
    "recover",
    "resolve_patch",
    "resolve_workspace_edit",
    "snapshot",
]
