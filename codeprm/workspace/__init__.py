"""The only code that writes the user's files or runs git: edits, jail, git guard, atomic apply.

Pure parts (no IO): ``edits`` (the model and ``apply_to_texts``), ``diffs`` (unified
diffs), ``wsedit`` and ``positions`` (LSP WorkspaceEdits), ``preview``. IO parts: ``jail``,
``gitguard``, ``private`` (``.codeprm`` opened without following links, the per-user
journal key), ``transaction`` (journal and crash recovery), ``apply`` (the checked entry
points), ``threeway`` (``git apply --3way``), ``snapshot``. No click, no language server.
GitPython is imported only when a git operation runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from codeprm.workspace.wsedit import (
        LspWorkspaceEdit,
        parse_workspace_edit,
        resolve_workspace_edit,
    )

# Lazy (PEP 562): ``import codeprm.workspace.private`` (or ``.textstore``, by a one-shot
# ``codeprm locate``) must not pay for the transaction, apply and diff modules.
_LAZY = {
    "ApplyOptions": "codeprm.workspace.apply",
    "ApplyResult": "codeprm.workspace.apply",
    "FileEdit": "codeprm.workspace.edits",
    "LspWorkspaceEdit": "codeprm.workspace.wsedit",
    "Patch": "codeprm.workspace.diffs",
    "RecoveryReport": "codeprm.workspace.transaction",
    "Snapshot": "codeprm.workspace.snapshot",
    "WorkspaceChange": "codeprm.workspace.edits",
    "apply_change": "codeprm.workspace.apply",
    "apply_diff": "codeprm.workspace.apply",
    "apply_to_texts": "codeprm.workspace.edits",
    "apply_workspace_edit": "codeprm.workspace.apply",
    "changed_since": "codeprm.workspace.snapshot",
    "parse_unified_diff": "codeprm.workspace.diffs",
    "parse_workspace_edit": "codeprm.workspace.wsedit",
    "plan_diff": "codeprm.workspace.apply",
    "plan_workspace_edit": "codeprm.workspace.apply",
    "preview": "codeprm.workspace.preview",
    "read_texts": "codeprm.workspace.apply",
    "recover": "codeprm.workspace.transaction",
    "resolve_patch": "codeprm.workspace.diffs",
    "resolve_workspace_edit": "codeprm.workspace.wsedit",
    "snapshot": "codeprm.workspace.snapshot",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    loaded = import_module(module)
    # bind every name this submodule exports: importing ``codeprm.workspace.snapshot`` sets
    # the package attribute ``snapshot`` to the submodule, which must not shadow the function
    for other, where in _LAZY.items():
        if where == module:
            globals()[other] = getattr(loaded, other)
    return globals()[name]


# Functions named like their submodule are bound eagerly: importing the submodule first (as
# ``from codeprm.workspace.snapshot import ...`` does) would otherwise leave the package
# attribute naming the module, not the function.
from codeprm.workspace.preview import preview  # noqa: E402
from codeprm.workspace.snapshot import Snapshot, changed_since, snapshot  # noqa: E402

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
