"""Import OpenHands event streams as trajectory steps, one per file edit; pure parsing, no server.

An event stream is a JSON list of events, JSONL (one event per line), a JSON object with
a ``"history"`` list (an evaluation ``output.jsonl`` record), or a directory of numbered
``*.json`` event files. Only edit observations (``"observation": "edit"``, OpenHands'
``FileEditObservation``) make steps; every other event is ignored. The task is the first
``"action": "message"`` event from ``"source": "user"``.

What an edit observation carries depends on who made the edit (``extras.impl_source``):

* ``llm_based_edit`` (and older streams): ``old_content``/``new_content`` are the whole
  file before and after (``prev_exist`` false and no old text: the file was created).
* ``oh_aci`` (the str_replace editor): OpenHands stores the tool's ``old_str``/``new_str``
  snippets there, not the files, plus ``diff``: a zero-context unified diff of the whole
  file whose lines had their trailing whitespace stripped. Such a step is rebuilt from the
  file's running text: the editor command is replayed exactly (create, a unique
  str_replace, insert, taken from the causing action) when the replay agrees with
  ``diff``, else ``diff`` itself is applied. Either needs the file's text, known from
  ``base_texts`` or an earlier step; a snippet that happens to be the whole file (its old
  text equals the running text) is taken as such.

Paths are absolute inside the agent's sandbox; ``strip_prefix`` (default: ``/workspace/``
when every path lies under it, else their longest common directory; with ``base_texts``,
the deeper prefix under which most paths name base files) makes them workspace-relative.

Errors: an unreadable or malformed stream is a UsageError (exit 2); with ``base_texts``,
an edit whose old text is not the file as the stream left it is a ContentModifiedError
(exit 74) naming the event id.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from codeprm.errors import (
    AmbiguousError,
    CodeprmError,
    ContentModifiedError,
    NotFoundError,
    UsageError,
)
from codeprm.trajectories.common import (
    detect_prefix,
    materialize,
    patch_paths,
    reconcile,
    submitted_state,
)
from codeprm.trajectories.model import Step
from codeprm.workspace.edits import FileEdit, WorkspaceChange, text_sha256

SANDBOX_ROOT = "/workspace/"
_HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_UNKNOWN = object()  # the running text of a file nothing has told us about

Events = Path | str | Sequence[Mapping[str, Any]]


@dataclasses.dataclass(frozen=True)
class _Edit:
    """One edit observation, with what its causing action said."""

    event_id: Any
    sandbox_path: str
    path: str  # workspace-relative, set once the prefix is known
    impl_source: str | None
    old_content: str | None
    new_content: str | None
    prev_exist: bool | None
    diff: str | None
    command: str | None
    args: Mapping[str, Any]


def import_openhands(
    events: Events,
    base_texts: Mapping[str, str] | None = None,
    *,
    strip_prefix: str | None = None,
    instance_id: str | None = None,
) -> list[Step]:
    """The edit steps of an OpenHands event stream or of one evaluation record.

    ``base_texts`` (workspace-relative path -> text) is the workspace before the first
    event; when given, every step's old text is checked against it as the stream goes.
    ``instance_id`` picks the record of an evaluation ``output.jsonl``.
    """
    stream, record = _load_stream(events, instance_id)
    task = _task(stream)
    raw_edits = _edit_observations(stream)
    patch = _record_patch(record)
    known: Any = base_texts
    if patch and not base_texts:
        known = patch_paths(patch)
    elif patch and base_texts is not None:
        known = _Known(base_texts, patch_paths(patch))
    prefix = _prefix([e.sandbox_path for e in raw_edits], strip_prefix, known)
    edits = [_with_path(e, prefix) for e in raw_edits]
    if base_texts is not None:
        base_texts = materialize(base_texts, [e.path for e in edits] + patch_paths(patch))
    meta: dict[str, Any] = {}
    if record is not None and isinstance(record.get("instance_id"), str):
        meta["instanceId"] = record["instance_id"]

    running: dict[str, str | None] = {}  # path -> text (None: absent) as the stream left it
    steps: list[Step] = []
    for edit in edits:
        current: object = (
            running[edit.path]
            if edit.path in running
            else (base_texts.get(edit.path) if base_texts is not None else _UNKNOWN)
        )
        try:
            resolved = _resolve(edit, current, strict=base_texts is not None)
        except ContentModifiedError as err:
            if current is None and edit.path not in running:
                raise NotFoundError(
                    f"event {edit.event_id}: {edit.path} is not in the workspace, but "
                    "the run edits it: the "
                    "workspace must hold the repository at the run's base commit",
                    details={"event": edit.event_id, "path": edit.path},
                ) from err
            raise
        if resolved is None:
            continue  # the editor reported an error and changed nothing
        before, after = resolved
        running[edit.path] = after
        if before == after:
            continue
        source: dict[str, Any] = {
            "kind": "openhands",
            "event": edit.event_id,
            "path": edit.sandbox_path,
            **meta,
        }
        if edit.impl_source:
            source["implSource"] = edit.impl_source
        if edit.command:
            source["command"] = edit.command
        change = WorkspaceChange.of([FileEdit(edit.path, before, after)])
        steps.append(Step(index=len(steps), change=change, task=task, source=source))
    if patch is not None and base_texts is not None:
        # shell commands (sed -i, rm, git checkout) change files without an edit event:
        # one last step brings the replay to the patch the run submitted
        try:
            target = submitted_state(base_texts, patch)
        except CodeprmError as err:
            raise type(err)(f"test_result.git_patch: {err.message}", details=err.details) from err
        final = reconcile(running, base_texts, target)
        if final:
            source = {
                "kind": "openhands",
                "event": None,
                "from": "test_result.git_patch",
                "reason": "the submitted patch differs from the replayed edits (changes made "
                "outside the editor)",
                **meta,
            }
            steps.append(Step(index=len(steps), change=final, task=task, source=source))
    return steps


class _Known(Mapping[str, str]):
    """Paths the caller knows: the base's files, and the submitted patch's."""

    def __init__(self, base: Mapping[str, str], extra: list[str]) -> None:
        self._base, self._extra = base, set(extra)

    def __getitem__(self, path: str) -> str:
        if path in self._extra:
            return ""
        return self._base[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._extra | set(self._base))

    def __len__(self) -> int:
        return len(self._extra | set(self._base))

    def __contains__(self, path: object) -> bool:
        return path in self._extra or path in self._base


# -- reading ---------------------------------------------------------------------------------
def _load_stream(
    events: Events, instance_id: str | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The events to import, and the evaluation record they came from (if any)."""
    where = str(events) if isinstance(events, (str, Path)) else "events"
    if isinstance(events, (str, Path)) and not Path(events).is_dir():
        records = _records(_read(Path(events)))
        if records is not None:
            record = _pick(records, instance_id, where)
            return _check_events(record["history"], f"{where} ({_rid(record)})"), record
    if instance_id is not None:
        raise UsageError(
            f'{where}: --instance-id needs an evaluation output.jsonl (records with a "history")'
        )
    return _load(events), None


def _records(text: str) -> list[dict[str, Any]] | None:
    """The records of an evaluation output (JSONL objects with a "history" list), or None."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
        out = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                return None
    else:
        out = [data] if isinstance(data, dict) else []
    if out and all(isinstance(r, dict) and isinstance(r.get("history"), list) for r in out):
        if len(out) == 1 and "instance_id" not in out[0] and "test_result" not in out[0]:
            return None  # a plain {"history": [...]} object: an event stream
        return out
    return None


def _rid(record: Mapping[str, Any]) -> str:
    rid = record.get("instance_id")
    return rid if isinstance(rid, str) else json.dumps(rid)


def _pick(records: list[dict[str, Any]], instance_id: str | None, where: str) -> dict[str, Any]:
    ids = [_rid(r) for r in records]
    if instance_id is not None:
        chosen = [r for r, rid in zip(records, ids, strict=True) if rid == instance_id]
        if not chosen:
            shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
            raise NotFoundError(
                f"{where}: no record with instance_id {instance_id!r} (records: {shown})"
            )
        if len(chosen) > 1:
            raise AmbiguousError(f"{where}: {len(chosen)} records have instance_id {instance_id!r}")
        return chosen[0]
    if len(records) == 1:
        return records[0]
    shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
    raise AmbiguousError(
        f"{where}: {len(records)} evaluation records; choose one with --instance-id ({shown})",
        details={"instance_ids": ids},
    )


def _record_patch(record: Mapping[str, Any] | None) -> str | None:
    if record is None:
        return None
    result = record.get("test_result")
    patch = result.get("git_patch") if isinstance(result, Mapping) else None
    if patch is not None and not isinstance(patch, str):
        raise UsageError(f"record {_rid(record)}: test_result.git_patch must be text")
    return patch


def _load(events: Events) -> list[dict[str, Any]]:
    if isinstance(events, (str, Path)):
        path = Path(events)
        if path.is_dir():
            return _load_dir(path)
        return _parse_text(_read(path), str(path))
    if isinstance(events, Mapping) or not isinstance(events, Sequence):
        raise UsageError("OpenHands events must be a path or a list of event objects")
    return _check_events(list(events), "events")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 text, so not an OpenHands event stream") from err


def _load_dir(path: Path) -> list[dict[str, Any]]:
    files = [p for p in path.iterdir() if p.is_file() and p.suffix == ".json"]
    if not files:
        raise UsageError(f"{path}: no *.json event files in this directory")

    def order(p: Path) -> tuple[int, int, str]:
        return (0, int(p.stem), p.name) if p.stem.isdigit() else (1, 0, p.name)

    out = []
    for file in sorted(files, key=order):
        try:
            event = json.loads(_read(file))
        except json.JSONDecodeError as err:
            raise UsageError(
                f"{file}: invalid JSON: {err.msg} at line {err.lineno} column {err.colno}"
            ) from err
        out.append(event)
    return _check_events(out, str(path))


def _parse_text(text: str, where: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if not lines:
            raise UsageError(f"{where}: empty, not an OpenHands event stream") from None
        out = []
        for number, line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise UsageError(
                    f"{where}:{number}: not an OpenHands event stream: invalid JSON "
                    f"({err.msg} at column {err.colno})"
                ) from err
        if len(out) == 1 and isinstance(out[0], dict) and isinstance(out[0].get("history"), list):
            return _check_events(out[0]["history"], where)
        return _check_events(out, where)
    if isinstance(data, dict):
        for key in ("history", "events"):
            if isinstance(data.get(key), list):
                return _check_events(data[key], where)
        raise UsageError(f"{where}: not an OpenHands event stream: expected a list of events")
    if not isinstance(data, list):
        raise UsageError(f"{where}: not an OpenHands event stream: expected a list of events")
    return _check_events(data, where)


def _check_events(events: list[Any], where: str) -> list[dict[str, Any]]:
    for n, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise UsageError(f"{where}: event {n} is not a JSON object")
    if events and not any("action" in e or "observation" in e for e in events):
        # events of other kinds (metadata, future types) are ignored, but not all of them
        raise UsageError(
            f'{where}: no event has an "action" or "observation": not an OpenHands event stream'
        )
    return [dict(e) for e in events]


def _task(events: list[dict[str, Any]]) -> str | None:
    for event in events:
        if event.get("action") == "message" and event.get("source") == "user":
            args = event.get("args") if isinstance(event.get("args"), Mapping) else {}
            for text in (args.get("content"), event.get("message")):
                if isinstance(text, str) and text:
                    return text
    return None


def _edit_observations(events: list[dict[str, Any]]) -> list[_Edit]:
    for position, event in enumerate(events):
        for key in ("id", "cause"):
            value = event.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
                raise UsageError(
                    f'event {position}: "{key}" must be an integer or a string, got '
                    f"{type(value).__name__}",
                    details={"event": position, "key": key},
                )
        for key in ("action", "observation", "source"):
            if event.get(key) is not None and not isinstance(event.get(key), str):
                raise UsageError(
                    f'event {event.get("id", position)}: "{key}" must be a string, got '
                    f"{type(event.get(key)).__name__}",
                    details={"event": event.get("id", position), "key": key},
                )
    actions = {e.get("id"): e for e in events if "action" in e and e.get("id") is not None}
    out = []
    for position, event in enumerate(events):
        if event.get("observation") != "edit":
            continue
        event_id = event.get("id", position)
        extras = event.get("extras")
        if not isinstance(extras, Mapping):
            raise UsageError(f'event {event_id}: an edit observation without "extras"')
        path = extras.get("path")
        if not isinstance(path, str) or not path:
            raise UsageError(f"event {event_id}: an edit observation without a path")
        cause = actions.get(event.get("cause"))
        args = (
            cause.get("args")
            if cause is not None and isinstance(cause.get("args"), Mapping)
            else {}
        )
        for key in ("old_content", "new_content", "diff"):
            if extras.get(key) is not None and not isinstance(extras.get(key), str):
                raise UsageError(f"event {event_id}: extras.{key} must be text or null")
        command = args.get("command")
        out.append(
            _Edit(
                event_id=event_id,
                sandbox_path=path,
                path=path,
                impl_source=extras.get("impl_source")
                if isinstance(extras.get("impl_source"), str)
                else None,
                old_content=extras.get("old_content"),
                new_content=extras.get("new_content"),
                prev_exist=extras.get("prev_exist")
                if isinstance(extras.get("prev_exist"), bool)
                else None,
                diff=extras.get("diff"),
                command=command if isinstance(command, str) else None,
                args=args,
            )
        )
    return out


# -- paths -----------------------------------------------------------------------------------
def _prefix(paths: list[str], explicit: str | None, known: Any) -> str:
    if explicit is not None:
        return explicit if explicit.endswith("/") or not explicit else explicit + "/"
    return detect_prefix(paths, known)


def _with_path(edit: _Edit, prefix: str) -> _Edit:
    raw = edit.sandbox_path
    if raw.startswith("/"):
        if not prefix or not raw.startswith(prefix):
            raise UsageError(
                f"event {edit.event_id}: {raw} is not under the sandbox prefix "
                f"{prefix or '(none)'}; pass strip_prefix",
                details={"event": edit.event_id, "path": raw, "prefix": prefix},
            )
        raw = raw[len(prefix) :]
    path = posixpath.normpath(raw)
    if path in (".", "") or path.startswith(("../", "/")) or path == "..":
        raise UsageError(
            f"event {edit.event_id}: {edit.sandbox_path} does not name a file inside the workspace",
            details={"event": edit.event_id, "path": edit.sandbox_path},
        )
    return dataclasses.replace(edit, path=path)


# -- rebuilding texts ------------------------------------------------------------------------
def _resolve(edit: _Edit, current: object, *, strict: bool) -> tuple[str | None, str | None] | None:
    """(before, after) of one edit given the file's running text (or _UNKNOWN); None: no change."""
    whole = _whole_file(edit)
    snippets = edit.impl_source == "oh_aci" and edit.diff is not None
    if snippets and not (edit.diff or "").strip():
        return None
    if not snippets:
        if whole is None:
            raise UsageError(
                f"event {edit.event_id}: an edit observation without new_content",
                details={"event": edit.event_id},
            )
        if current is not _UNKNOWN and whole[0] != current and strict:
            raise _modified(edit, current, whole[0])
        return whole
    # oh_aci: old/new_content are the editor's snippets; the diff covers the whole file
    if current is not _UNKNOWN and whole is not None and _agrees(edit.diff, *whole):
        if whole[0] == current:
            return whole  # the snippet was the whole file (or the exporter stored whole files)
        inside = (
            isinstance(edit.old_content, str)
            and isinstance(current, str)
            and edit.old_content in current
        )
        if not (
            _is_snippet(edit) or inside
        ):  # whole texts, but not of the file as the stream left it
            raise _modified(edit, current, whole[0])
    if current is _UNKNOWN:
        if edit.command == "create" or (
            edit.command is None
            and edit.old_content is None
            and edit.new_content is None
            and _apply_lossy_diff("", edit.diff or "") is not None
        ):
            current = None  # created by this edit
        elif whole is not None and _agrees(edit.diff, *whole) and not _is_snippet(edit):
            return whole
        else:
            raise UsageError(
                f"event {edit.event_id}: cannot rebuild {edit.sandbox_path}: the oh_aci "
                "observation carries only "
                "the edited snippet and the file's text is unknown; pass base_texts",
                details={"event": edit.event_id, "path": edit.path},
            )
    assert current is None or isinstance(current, str)
    after = _replay(edit, current)
    if after is _UNKNOWN:
        raise _modified(edit, current, None)
    assert after is None or isinstance(after, str)
    return current, after


def _whole_file(edit: _Edit) -> tuple[str | None, str | None] | None:
    if edit.new_content is None:
        return None
    old = edit.old_content
    before = None if old is None or (old == "" and edit.prev_exist is not True) else old
    return before, edit.new_content


def _is_snippet(edit: _Edit) -> bool:
    """Whether the causing action shows old/new_content to be the editor's old_str/new_str."""
    return (
        edit.command in ("str_replace", "insert") and edit.args.get("new_str") == edit.new_content
    )


def _agrees(diff: str | None, before: str | None, after: str | None) -> bool:
    if diff is None:
        return True
    result = _apply_lossy_diff(before or "", diff)
    return result is not None and _loose(result) == _loose(after or "")


def _replay(edit: _Edit, current: str | None) -> object:
    """The file after the oh_aci edit, or _UNKNOWN when the diff does not fit ``current``."""
    assert edit.diff is not None
    text = current or ""
    from_diff = _apply_lossy_diff(text, edit.diff)
    if from_diff is None:
        return _UNKNOWN
    exact = _exact_replay(edit, current)
    if exact is not None and _loose(exact) == _loose(from_diff):
        return exact  # the diff lost trailing whitespace; the replay did not
    return from_diff


def _exact_replay(edit: _Edit, current: str | None) -> str | None:
    args = edit.args
    if edit.command == "create":
        text = args.get("file_text")
        return text if isinstance(text, str) else None
    if current is None:
        return None
    if edit.command == "str_replace" or (edit.command is None and edit.old_content):
        old = args.get("old_str", edit.old_content)
        new = args.get("new_str", edit.new_content) or ""
        if isinstance(old, str) and old and isinstance(new, str) and current.count(old) == 1:
            return current.replace(old, new)
        return None
    if edit.command == "insert":
        line, new = args.get("insert_line"), args.get("new_str", edit.new_content)
        if isinstance(line, int) and isinstance(new, str):
            lines = current.split("\n")
            if 0 <= line <= len(lines):
                return "\n".join(lines[:line] + new.split("\n") + lines[line:])
    return None


def _loose(text: str) -> list[str]:
    return [line.rstrip() for line in text.split("\n")]


def _apply_lossy_diff(text: str, diff: str) -> str | None:
    """Apply an OpenHands ``get_diff`` diff (lines split on "\\n", right-stripped) to ``text``.

    Old lines match ignoring trailing whitespace; None when a hunk does not fit. A CRLF
    file gets its "\\r" back on the added lines.
    """
    lines = text.split("\n")
    crlf = len(lines) > 1 and sum(x.endswith("\r") for x in lines[:-1]) * 2 > len(lines) - 1
    out: list[str] = []
    added: list[int] = []  # indices in ``out`` of added lines
    cursor = 0
    for old_start, old_len, body in _lossy_hunks(diff):
        start = old_start - 1 if old_len else old_start
        olds = [v for k, v in body if k in " -"]
        if len(olds) != old_len or start < cursor or start + old_len > len(lines):
            return None
        if [x.rstrip() for x in lines[start : start + old_len]] != [x.rstrip() for x in olds]:
            return None
        out.extend(lines[cursor:start])
        pos = start
        for kind, value in body:
            if kind == " ":
                out.append(lines[pos])
                pos += 1
            elif kind == "-":
                pos += 1
            else:
                added.append(len(out))
                out.append(value)
        cursor = start + old_len
    out.extend(lines[cursor:])
    if crlf:
        for i in added:
            if i < len(out) - 1 and not out[i].endswith("\r"):
                out[i] += "\r"
    return "\n".join(out)


def _lossy_hunks(diff: str) -> list[tuple[int, int, list[tuple[str, str]]]]:
    """(old start, old length, body) per hunk; a right-stripped blank context line is ""."""
    hunks: list[tuple[int, int, list[tuple[str, str]]]] = []
    want_old = want_new = 0  # body lines the current hunk still expects
    for line in diff.split("\n"):
        match = _HUNK_HEADER.match(line)
        if match and want_old <= 0 and want_new <= 0:
            want_old = int(match.group(2)) if match.group(2) is not None else 1
            want_new = int(match.group(4)) if match.group(4) is not None else 1
            hunks.append((int(match.group(1)), want_old, []))
            continue
        if not hunks or line.startswith("\\") or (want_old <= 0 and want_new <= 0):
            continue  # file headers, "\ No newline" markers, anything after a full hunk
        kind = line[:1] if line[:1] in ("+", "-", " ") else " "
        hunks[-1][2].append((kind, line[1:] if kind == line[:1] else line))
        want_old -= kind in " -"
        want_new -= kind in " +"
    return hunks


def _modified(edit: _Edit, current: object, expected: str | None) -> ContentModifiedError:
    actual = current if isinstance(current, str) else None
    return ContentModifiedError(
        f"event {edit.event_id}: {edit.path} is not what the edit expects: the file "
        "changed outside "
        "the recorded edits (or base_texts is not the stream's starting point)",
        details={
            "event": edit.event_id,
            "path": edit.path,
            "expected_sha256": text_sha256(expected),
            "actual_sha256": text_sha256(actual),
        },
    )
