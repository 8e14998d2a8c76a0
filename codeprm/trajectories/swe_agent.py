"""Import SWE-agent ``.traj`` files as trajectory steps; pure parsing and text rebuilding, no
server.

A ``.traj`` file is a JSON object whose ``"trajectory"`` list holds one entry per agent
turn (``action``, ``observation``, ``thought``/``response``, ``state``). In SWE-agent 1.x
``state["diff"]`` is the cumulative ``git add -A && git diff --cached`` of the repository
against its base commit after that turn (stored ``.strip()``-ed; some versions store
``state`` itself as a JSON string). Each state's files are rebuilt by applying its
cumulative diff to the base texts the caller gives, and a step is the difference
between two consecutive states. Turns that left the diff unchanged (views, searches,
test runs) produce no step; each step names the entry it came from in ``source``.

Trajectories whose entries carry no diff at all (SWE-agent 0.x) fall back to one step
from ``info.submission``, the final patch. Binary file patches, which a text step cannot
express, are left out and listed in the step's ``source``; file mode changes are ignored.

Errors: a file that is not such a structure is a UsageError (exit 2); a diff that does
not apply to the base texts is an ApplyConflictError (exit 70) naming the entry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeprm.errors import CodeprmError, UsageError
from codeprm.trajectories.common import materialize, patch_paths
from codeprm.trajectories.model import Step
from codeprm.trajectories.turns import _Unreplayable, replay_turns
from codeprm.workspace.diffs import parse_unified_diff, resolve_patch
from codeprm.workspace.edits import WorkspaceChange, apply_to_texts

ACTION_PREVIEW_CHARS = 200
_HUNK_HEADER = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_BINARY_MARKERS = ("GIT binary patch", "Binary files ")
_MODE_LINE = re.compile(r"^(old|new) mode [0-7]+\r?\n?$")
_FILE_HEADERS = ("new file mode", "deleted file mode", "rename from", "copy from")


@dataclass(frozen=True)
class _Entry:
    number: int  # position in the file's "trajectory" list, from 0
    action: str
    diff: str | None  # None: this entry recorded no diff (not: an empty one)


@dataclass(frozen=True)
class _State:
    texts: dict[str, str]
    renames: dict[str, str]  # new path -> old path, for files the cumulative diff renames
    binary: tuple[str, ...]  # paths whose binary patches were left out


def import_swe_agent(
    traj: Path | str | Mapping[str, Any], base_texts: Mapping[str, str]
) -> list[Step]:
    """The edit steps of a SWE-agent trajectory, given the repository's texts at its base commit.

    ``traj`` is a path to a ``.traj`` file or its parsed JSON; ``base_texts`` maps
    repository-relative POSIX paths to texts (files the diffs touch must be there).
    """
    data = _load(traj)
    entries = _entries(data)
    task = _task(data)
    fallback: str | None = None
    if all(e.diff is None for e in entries):
        submission = _submission(data)
        try:
            replayed = replay_turns(data, base_texts, submission, task)
        except _Unreplayable as why:
            replayed, fallback = None, str(why)
        if replayed is not None:
            return replayed
        if submission is not None and submission.strip():
            entries = [_Entry(number=-1, action="submit", diff=submission)]
            fallback = fallback or "no edit command the importer can replay"

    base_texts = materialize(base_texts, [p for e in entries for p in patch_paths(e.diff)])
    steps: list[Step] = []
    previous_diff = ""
    previous = dict(base_texts)
    for entry in entries:
        if entry.diff is None or entry.diff.strip() == previous_diff.strip():
            continue
        state = _state(base_texts, entry)
        change = WorkspaceChange.between(previous, state.texts, state.renames)
        previous_diff, previous = entry.diff, state.texts
        if not change:  # the diff text moved (index lines, binary files) but no text did
            continue
        source: dict[str, Any] = {
            "kind": "swe-agent",
            "entry": entry.number if entry.number >= 0 else None,
            "action": entry.action,
        }
        if entry.number < 0:
            source["from"] = "info.submission"
            if fallback:
                source["fallback"] = f"one step from the submitted patch: {fallback}"
        if state.binary:
            source["binaryPathsSkipped"] = list(state.binary)
        steps.append(Step(index=len(steps), change=change, task=task, source=source))
    return steps


def _submission(data: Mapping[str, Any]) -> str | None:
    info = data.get("info")
    if not isinstance(info, Mapping):
        return None
    for key in ("submission", "model_patch"):
        value = info.get(key)
        if isinstance(value, str):
            return value
    return None


# -- reading ---------------------------------------------------------------------------------
def _load(traj: Path | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(traj, Mapping):
        data: Any = dict(traj)
        where = "trajectory"
    else:
        path = Path(traj)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise UsageError(f"{path}: cannot read: {err.strerror or err}") from err
        except UnicodeDecodeError as err:
            raise UsageError(f"{path}: not UTF-8 text, so not a SWE-agent trajectory") from err
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise UsageError(
                f"{path}: not a SWE-agent trajectory: invalid JSON ({err.msg} at line "
                f"{err.lineno} column {err.colno})"
            ) from err
    if not isinstance(data, dict) or not isinstance(data.get("trajectory"), list):
        raise UsageError(
            f'{where}: not a SWE-agent trajectory: expected a JSON object with a "trajectory" list'
        )
    return data


def _entries(data: dict[str, Any]) -> list[_Entry]:
    out = []
    for number, raw in enumerate(data["trajectory"]):
        if not isinstance(raw, dict):
            raise UsageError(
                f"trajectory entry {number}: expected a JSON object, got {type(raw).__name__}"
            )
        state = raw.get("state")
        if isinstance(state, str):
            try:
                state = json.loads(state) if state.strip() else {}
            except json.JSONDecodeError as err:
                raise UsageError(
                    f'trajectory entry {number}: "state" is a string but not JSON: {err.msg}'
                ) from err
        if state is not None and not isinstance(state, dict):
            raise UsageError(
                f'trajectory entry {number}: "state" must be an object, got {type(state).__name__}'
            )
        diff = (state or {}).get("diff")
        if diff is not None and not isinstance(diff, str):
            raise UsageError(
                f"trajectory entry {number}: state.diff must be text, got {type(diff).__name__}"
            )
        action = raw.get("action")
        out.append(_Entry(number, _preview(action if isinstance(action, str) else ""), diff))
    return out


def _preview(action: str) -> str:
    stripped = action.strip()
    first = stripped.splitlines()[0] if stripped else ""
    return first[:ACTION_PREVIEW_CHARS]


def _task(data: dict[str, Any]) -> str | None:
    """The first user message of ``history`` (the issue the agent was given), if any."""
    history = data.get("history")
    if not isinstance(history, list):
        return None
    for message in history:
        if isinstance(message, dict) and message.get("role") == "user":
            text = _message_text(message.get("content"))
            if text:
                return text
    return None


def _message_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI-style content parts
        parts = [
            p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        ]
        return "\n".join(parts) if parts else None
    return None


# -- rebuilding states -----------------------------------------------------------------------
def _state(base: Mapping[str, str], entry: _Entry) -> _State:
    assert entry.diff is not None
    diff, binary = _text_patches(entry.diff)
    if not diff.strip():
        return _State(dict(base), {}, binary)
    try:
        change = resolve_patch(parse_unified_diff(diff), base)
    except CodeprmError as err:
        raise _at_entry(entry, err) from err
    renames = {e.path: e.renamed_from for e in change.edits if e.renamed_from is not None}
    return _State(apply_to_texts(base, change), renames, binary)


def _text_patches(diff: str) -> tuple[str, tuple[str, ...]]:
    """The diff as text patches only, repaired after ``strip()``; and the binary paths left out.

    Binary file patches are dropped (a text step cannot hold them) and so are file mode
    changes (``chmod +x``), keeping any text change of the same file. SWE-agent stores
    ``patch.strip()``: the last line loses its newline and trailing blank context lines
    vanish, so the last hunk comes up short. Both are restored.
    """
    blocks = re.split(r"(?m)^(?=diff --git )", diff)
    kept, binary = [], []
    for block in blocks:
        lines = block.splitlines(keepends=True)
        header_end = next(
            (i for i, ln in enumerate(lines) if ln.startswith(("--- ", "@@ "))), len(lines)
        )
        header = lines[:header_end]
        if any(ln.startswith(_BINARY_MARKERS) for ln in header):
            binary.append(_block_path(block))
            continue
        header = [ln for ln in header if not _MODE_LINE.match(ln)]
        if (
            header_end == len(lines)
            and header
            and not any(ln.startswith(_FILE_HEADERS) for ln in header)
        ):
            continue  # nothing left but "diff --git" and "index": a mode change alone
        kept.append("".join(header + lines[header_end:]))
    text = "".join(kept)
    if text and not text.endswith("\n"):
        text += "\n"
    return _pad_last_hunk(text), tuple(binary)


def _block_path(block: str) -> str:
    first = block.split("\n", 1)[0]
    match = re.match(r"diff --git a/(.*) b/(.*)$", first)
    return match.group(2) if match else first


def _pad_last_hunk(text: str) -> str:
    lines = text.split("\n")[:-1]  # text ends with "\n"
    header = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("@@ ")), None)
    if header is None:
        return text
    match = _HUNK_HEADER.match(lines[header])
    if match is None:
        return text
    old_len = int(match.group(1)) if match.group(1) is not None else 1
    new_len = int(match.group(2)) if match.group(2) is not None else 1
    seen_old = seen_new = 0
    for line in lines[header + 1 :]:
        if line.startswith("diff --git "):
            return text  # another file follows: the last hunk was not at the end
        if line.startswith("-"):
            seen_old += 1
        elif line.startswith("+"):
            seen_new += 1
        elif line.startswith(" ") or line == "":
            seen_old += 1
            seen_new += 1
    missing_old, missing_new = old_len - seen_old, new_len - seen_new
    if missing_old > 0 and missing_old == missing_new:
        # only blank context lines (" " + newline) can vanish under strip()
        return text + " \n" * missing_old
    return text


def _at_entry(entry: _Entry, err: CodeprmError) -> CodeprmError:
    """The same error, its message prefixed with the trajectory entry it belongs to."""
    where = f"trajectory entry {entry.number}" if entry.number >= 0 else "info.submission"
    cls = type(err)
    wrapped = cls.__new__(cls)
    CodeprmError.__init__(
        wrapped,
        f"{where}: {err.message}",
        details={**err.details, "entry": entry.number if entry.number >= 0 else None},
    )
    return wrapped
