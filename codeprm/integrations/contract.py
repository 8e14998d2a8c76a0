"""The sample-to-workspace contract every trainer adapter speaks, and the edit-extraction rule.

No RL trainer hands a reward function the workspace an edit applies to, so each sample
carries a reference to it, in whatever metadata field its trainer passes through
(verl's ``extra_info``, OpenRLHF's ``labels``, a TRL dataset column)::

    {"workspace": {"repo": "<local path or git URL>", "commit": "<sha>"},
     "edit": "<unified diff>" | {<LSP WorkspaceEdit>},      (optional)
     "task": "<text>"}                                       (optional)

When the sample carries no ``edit``, the edit is extracted from the model's completion
by this rule (the first that matches wins):

1. the last fenced block (```` ``` ````) whose info string is ``diff`` or ``patch``;
2. else the last fenced block whose body starts like a unified diff (``diff --git``,
   ``--- ``) or is a WorkspaceEdit JSON object (``{"changes"`` / ``{"documentChanges"``);
3. else, outside fences, everything from the first line that starts a unified diff
   (``diff --git `` or a ``--- `` line followed by ``+++ ``) to the end;
4. else there is no edit: the sample is a typed failure (``no-edit``), with its reward.

Pure: no IO.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codeprm.errors import UsageError

_FENCE = re.compile(
    r"^(?P<ticks>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=ticks)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_DIFF_START = re.compile(r"^(?:diff --git |--- \S)", re.MULTILINE)
MAX_EDIT_CHARS = 4 << 20


@dataclass(frozen=True)
class Sample:
    """One sample's reference to its workspace, its edit (text: a diff or WorkspaceEdit
    JSON; None: take it from the completion) and its task text."""

    repo: str
    commit: str
    edit: str | None = None
    task: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "workspace": {"repo": self.repo, "commit": self.commit},
            "task": self.task,
        }
        if self.edit is not None:
            out["edit"] = self.edit
        return out


def parse_sample(obj: Any) -> Sample:
    """A Sample from a trainer's metadata (a dict, or a JSON string of one); UsageError
    with one line saying what is wrong."""
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except ValueError as err:
            raise UsageError(f"sample metadata is not JSON: {err}") from err
    if not isinstance(obj, Mapping):
        raise UsageError("sample metadata must be an object with a 'workspace'")
    ws = obj.get("workspace")
    if (
        not isinstance(ws, Mapping)
        or not isinstance(ws.get("repo"), str)
        or not isinstance(ws.get("commit"), str)
    ):
        raise UsageError("sample metadata needs workspace.repo and workspace.commit (strings)")
    edit = obj.get("edit")
    if isinstance(edit, Mapping):
        edit = json.dumps(edit, sort_keys=True)
    elif edit is not None and not isinstance(edit, str):
        raise UsageError("sample edit must be a unified diff (string) or a WorkspaceEdit (object)")
    if edit is not None and len(edit) > MAX_EDIT_CHARS:
        raise UsageError(f"sample edit is larger than {MAX_EDIT_CHARS} characters")
    task = obj.get("task", "")
    if not isinstance(task, str):
        raise UsageError("sample task must be a string")
    return Sample(ws["repo"], ws["commit"], edit, task)


def _looks_like_edit(body: str) -> bool:
    head = body.lstrip()
    return bool(_DIFF_START.match(head)) or head.startswith(('{"changes"', '{"documentChanges"'))


def extract_edit(completion: str) -> str | None:
    """The edit in a model's completion, by the rule in the module docstring (None: none)."""
    if not completion or len(completion) > MAX_EDIT_CHARS:
        return None
    fences = list(_FENCE.finditer(completion))
    tagged = [
        m for m in fences if m.group("info").strip().split(" ")[0].lower() in ("diff", "patch")
    ]
    if tagged:
        return tagged[-1].group("body")
    shaped = [m for m in fences if _looks_like_edit(m.group("body"))]
    if shaped:
        return shaped[-1].group("body")
    outside = _FENCE.sub("", completion)
    for m in _DIFF_START.finditer(outside):
        rest = outside[m.start() :]
        if rest.startswith("diff --git ") or (
            len(rest.splitlines()) > 1 and rest.splitlines()[1].startswith("+++ ")
        ):
            return rest if rest.endswith("\n") else rest + "\n"
    return None
