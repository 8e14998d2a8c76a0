"""Replay the edit turns of a SWE-agent trajectory that records no per-turn diff.

SWE-agent 0.x (and 1.x without the diff state) records, per turn, the command the model
ran, what it printed and ``state`` (``open_file``, ``working_dir``). The importer replays
the commands that edit files, on the repository's base texts, one step per turn that
changed something:

* ``create PATH``: a new file holding one empty line;
* ``edit N:M`` ... ``end_of_edit``: lines N to M of the open file replaced;
* ``edit 'SEARCH' 'REPLACE' [True|False]`` and ``insert 'TEXT' [LINE]`` (the edit_replace
  tools);
* ``str_replace_editor create|str_replace|insert|undo_edit PATH --flags`` (1.x);
* ``rm PATH...``.

A turn whose output reports a failure (a lint rejection, "No replacement was performed",
an error) changed nothing. Shell commands that edit files (``sed -i``, redirections)
cannot be replayed: when the replay does not end where the submitted patch does, one last
step brings it there, its ``source`` saying so (``from: info.submission``). A replay that
cannot go on (an edit of a file whose text is unknown, a search text that is not in the
file) gives up: the caller then falls back to the submitted patch as one step, its
``source.fallback`` saying why.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codeprm.errors import CodeprmError
from codeprm.trajectories.common import (
    detect_prefix,
    materialize,
    patch_paths,
    reconcile,
    submitted_state,
)
from codeprm.trajectories.model import Step
from codeprm.workspace.edits import WorkspaceChange

ACTION_PREVIEW_CHARS = 200
_LINE_EDIT = re.compile(r"^edit\s+(\d+):(\d+)\s*\n(.*?)(?:\n)?end_of_edit\s*$", re.S)
_FAILURES = (
    "Your proposed edit has introduced new syntax error",
    "No replacement was performed",
    "Usage:",
    "Error",
    "ERROR",
    "Invalid",
    "No file open",
    "The path ",
    "rm: ",
)


class _Unreplayable(Exception):
    """The turns cannot be replayed faithfully; the message says why."""


@dataclass(frozen=True)
class _Turn:
    number: int
    action: str
    observation: str
    open_file: str | None  # after the turn
    working_dir: str | None


def replay_turns(
    data: Mapping[str, Any], base: Mapping[str, str], submission: str | None, task: str | None
) -> list[Step] | None:
    """One step per edit turn (plus a closing step towards ``submission``); None: no edit turn."""
    turns = _turns(data)
    root = _root(turns, submission)
    running: dict[str, str | None] = {}
    history: dict[str, list[str | None]] = {}  # path -> earlier texts, for undo_edit
    steps: list[Step] = []
    open_file: str | None = None
    cursors: tuple[int, int] | None = None  # the cursors environment's START/END lines
    edit_turns = 0
    for turn in turns:
        cwd = turn.working_dir or root
        # the file a windowed command edits: the one its output shows, else the open one
        # (0.x records the state before the turn, 1.x after it)
        shown = _shown_file(turn.observation, cwd)
        writes = _writes(turn, shown or turn.open_file or open_file, cwd, cursors)
        open_file = shown or turn.open_file or open_file
        cursors = _cursors(turn, cursors)
        if writes is None:
            continue
        edit_turns += 1
        old: dict[str, str] = {}
        new: dict[str, str] = {}
        for raw, action in writes:
            path = _repo_path(raw, root)
            if path is None:
                continue  # outside the repository (/tmp, ...): not part of its state
            current = running[path] if path in running else base.get(path)
            after = _apply(action, current, history.get(path, []), turn)
            if after is _SAME:
                continue
            assert after is None or isinstance(after, str)
            if current is not None:
                old[path] = current
            if after is not None:
                new[path] = after
            if action[:2] != ("aci", "undo_edit"):
                history.setdefault(path, []).append(current)
            running[path] = after
        change = WorkspaceChange.between(old, new)
        if change:
            source = {
                "kind": "swe-agent",
                "entry": turn.number,
                "action": _preview(turn.action),
                "command": _name(turn.action),
            }
            steps.append(Step(index=len(steps), change=change, task=task, source=source))
    if edit_turns == 0:
        return None
    if submission is not None and submission.strip():
        texts = materialize(base, patch_paths(submission) + list(running))
        try:
            target = submitted_state(texts, submission)
        except CodeprmError as err:
            raise type(err)(f"info.submission: {err.message}", details=err.details) from err
        final = reconcile(running, texts, target)
        if final:
            source = {
                "kind": "swe-agent",
                "entry": None,
                "action": "submit",
                "from": "info.submission",
                "reason": "the submitted patch differs from the replayed edit turns "
                "(changes made by shell commands, or files left out of the submission)",
            }
            steps.append(Step(index=len(steps), change=final, task=task, source=source))
    return steps


# -- reading ---------------------------------------------------------------------------------
def _turns(data: Mapping[str, Any]) -> list[_Turn]:
    out = []
    for number, raw in enumerate(data.get("trajectory") or []):
        if not isinstance(raw, Mapping):
            continue
        state: Any = raw.get("state")
        if isinstance(state, str):
            try:
                state = json.loads(state) if state.strip() else {}
            except json.JSONDecodeError:
                state = {}
        state = state if isinstance(state, Mapping) else {}
        action, observation = raw.get("action"), raw.get("observation")
        open_file = state.get("open_file")
        working_dir = state.get("working_dir")
        out.append(
            _Turn(
                number=number,
                action=action if isinstance(action, str) else "",
                observation=observation if isinstance(observation, str) else "",
                open_file=open_file
                if isinstance(open_file, str) and open_file.startswith("/")
                else None,
                working_dir=working_dir
                if isinstance(working_dir, str) and working_dir.startswith("/")
                else None,
            )
        )
    return out


def _root(turns: list[_Turn], submission: str | None) -> str:
    """The repository's directory in the sandbox: the usual working directory, else detected."""
    dirs = Counter(t.working_dir for t in turns if t.working_dir)
    if dirs:
        return dirs.most_common(1)[0][0].rstrip("/") or "/"
    files = [t.open_file for t in turns if t.open_file]
    return detect_prefix(files, patch_paths(submission)).rstrip("/") or "/"


_SHOWN = re.compile(r"^\[File: (.+?) \(\d+ lines total\)\]", re.M)


def _shown_file(observation: str, cwd: str) -> str | None:
    match = _SHOWN.search(observation[:2000])
    if match is None or "Your proposed edit has introduced" in observation[:400]:
        return None
    path = match.group(1).strip()
    return posixpath.normpath(path if path.startswith("/") else posixpath.join(cwd, path))


def _repo_path(raw: str, root: str) -> str | None:
    path = posixpath.normpath(raw)
    prefix = root.rstrip("/") + "/"
    if not path.startswith(prefix):
        return None
    return path[len(prefix) :]


def _preview(action: str) -> str:
    stripped = action.strip()
    return (stripped.splitlines()[0] if stripped else "")[:ACTION_PREVIEW_CHARS]


def _name(action: str) -> str:
    words = action.strip().split(maxsplit=2)
    if not words:
        return ""
    if words[0] == "str_replace_editor" and len(words) > 1:
        return f"str_replace_editor {words[1]}"
    return words[0]


# -- commands --------------------------------------------------------------------------------
_SAME = object()  # the turn left the file as it was


def _failed(observation: str) -> bool:
    head = observation.lstrip()
    return (
        head.startswith(_FAILURES)
        or "Your proposed edit has introduced new syntax error" in head[:400]
    )


_START = re.compile(r"<<<<< START CURSOR >>>>>\r?\n(\d+):")
_END = re.compile(r"(?:^|\n)(\d+):[^\n]*\n<<<<< END CURSOR >>>>>")
_SET = re.compile(r"^set_cursors\s+(\d+)\s+(\d+)\s*$")


def _cursors(turn: _Turn, cursors: tuple[int, int] | None) -> tuple[int, int] | None:
    """The cursors after a turn: set by set_cursors, shown around the window's lines."""
    match = _SET.match(turn.action.strip())
    if match and not _failed(turn.observation):
        return int(match.group(1)), int(match.group(2))
    start, end = _START.search(turn.observation), _END.search(turn.observation)
    if start and end:
        return int(start.group(1)), int(end.group(1))
    return cursors


def _writes(
    turn: _Turn, open_file: str | None, cwd: str, cursors: tuple[int, int] | None = None
) -> list[tuple[str, tuple[str, ...]]] | None:
    """The files a turn writes, each with the operation; None when the turn edits nothing."""
    action = turn.action.strip()
    name = _name(action)
    if name not in ("create", "edit", "insert", "rm") and not name.startswith("str_replace_editor"):
        return None
    if name.startswith("str_replace_editor") and name.endswith(" view"):
        return None
    if _failed(turn.observation):
        return []  # an edit turn that changed nothing

    def absolute(path: str) -> str:
        return posixpath.normpath(path if path.startswith("/") else posixpath.join(cwd, path))

    between = re.match(r"^edit\s*\n(.*?)(?:\n)?end_of_edit\s*$", action, re.S)
    if between:  # the cursors environment: the lines between the cursors are replaced
        if open_file is None or cursors is None:
            raise _Unreplayable(f"entry {turn.number}: edit with no open file or no cursors")
        return [(open_file, ("lines", str(cursors[0]), str(cursors[1]), between.group(1)))]
    match = _LINE_EDIT.match(action)
    if match:
        if open_file is None:
            raise _Unreplayable(f"entry {turn.number}: edit with no open file")
        return [(open_file, ("lines", match.group(1), match.group(2), match.group(3)))]
    try:
        words = shlex.split(action, posix=True)
    except ValueError as err:
        raise _Unreplayable(
            f"entry {turn.number}: cannot parse {_preview(action)!r}: {err}"
        ) from err
    if name == "rm":
        if "\n" in action or any(c in action for c in ";&|><`$*?"):
            return None  # a shell line, not a plain rm: left to the closing step
        return [(absolute(w), ("delete",)) for w in words[1:] if not w.startswith("-")]
    if name == "create" and len(words) == 2:
        return [(absolute(words[1]), ("create", "\n"))]
    if name == "edit" and len(words) in (3, 4):
        if open_file is None:
            raise _Unreplayable(f"entry {turn.number}: edit with no open file")
        return [
            (open_file, ("replace", words[1], words[2], words[3] if len(words) == 4 else "False"))
        ]
    if name == "insert" and len(words) in (2, 3):
        if open_file is None:
            raise _Unreplayable(f"entry {turn.number}: insert with no open file")
        return [(open_file, ("append", words[1], words[2] if len(words) == 3 else ""))]
    if name.startswith("str_replace_editor") and len(words) >= 3:
        flags = _flags(words[3:], turn)
        return [(absolute(words[2]), ("aci", words[1], json.dumps(flags)))]
    raise _Unreplayable(f"entry {turn.number}: unrecognised edit command {_preview(action)!r}")


def _flags(words: list[str], turn: _Turn) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i < len(words):
        if not words[i].startswith("--") or i + 1 >= len(words):
            raise _Unreplayable(f"entry {turn.number}: cannot parse the editor's arguments")
        out[words[i][2:]] = words[i + 1]
        i += 2
    return out


def _lines(text: str) -> list[str]:
    """The file's lines as bash's ``mapfile`` reads them."""
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _apply(
    op: tuple[str, ...], current: str | None, earlier: list[str | None], turn: _Turn
) -> object:
    kind = op[0]
    if kind == "delete":
        return _SAME if current is None else None
    if kind == "create":
        return _SAME if current is not None else op[1]
    if kind == "aci":
        return _aci(op[1], json.loads(op[2]), current, earlier, turn)
    if current is None:
        raise _Unreplayable(
            f"entry {turn.number}: {_preview(turn.action)!r} edits a file whose text is unknown"
        )
    if kind == "lines":
        start, end, text = int(op[1]), int(op[2]), op[3]
        lines = _lines(current)
        if start < 1 or end < start - 1 or start - 1 > len(lines):
            raise _Unreplayable(f"entry {turn.number}: lines {start}:{end} are outside the file")
        new = lines[: start - 1] + text.split("\n") + lines[end:]
        return "".join(line + "\n" for line in new)
    if kind == "replace":
        search, replace, every = op[1], op[2], op[3] == "True"
        count = current.count(search)
        if count == 0 or (count > 1 and not every):
            raise _Unreplayable(f"entry {turn.number}: the search text is not once in the file")
        return current.replace(search, replace) if every else current.replace(search, replace, 1)
    if kind == "append":
        text, line = op[1], op[2]
        lines = _lines(current)
        at = int(line) if line.isdigit() else len(lines)
        new = lines[:at] + text.split("\n") + lines[at:]
        return "".join(x + "\n" for x in new)
    raise AssertionError(kind)


def _aci(
    command: str, flags: dict[str, str], current: str | None, earlier: list[str | None], turn: _Turn
) -> object:
    """The str_replace_editor (anthropic tools), which works on tab-expanded text."""
    if command == "create":
        if "file_text" not in flags:
            raise _Unreplayable(f"entry {turn.number}: create without --file_text")
        return flags["file_text"]
    if command == "undo_edit":
        if not earlier:
            raise _Unreplayable(f"entry {turn.number}: undo_edit with no earlier edit")
        return earlier.pop()
    if current is None:
        raise _Unreplayable(f"entry {turn.number}: {command} of a file whose text is unknown")
    text = current.expandtabs()
    if command == "str_replace":
        old, new = flags.get("old_str", "").expandtabs(), flags.get("new_str", "").expandtabs()
        if not old or text.count(old) != 1:
            raise _Unreplayable(f"entry {turn.number}: the old_str is not once in the file")
        return text.replace(old, new)
    if command == "insert":
        line = flags.get("insert_line", "")
        lines = text.split("\n")
        if not line.isdigit() or int(line) > len(lines):
            raise _Unreplayable(f"entry {turn.number}: bad insert_line {line!r}")
        at = int(line)
        return "\n".join(
            lines[:at] + flags.get("new_str", "").expandtabs().split("\n") + lines[at:]
        )
    raise _Unreplayable(f"entry {turn.number}: unknown editor command {command!r}")
