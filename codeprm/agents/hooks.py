"""Agent hooks: score the edit a coding agent has just made, and tell it when it made things worse.

Claude Code runs a PostToolUse hook after its Edit, Write and MultiEdit tools with a JSON
payload on stdin (``tool_name``, ``tool_input``, ``tool_response``, ``cwd`` ...). The edit
is already on disk, so the text before it is rebuilt:

* Edit / MultiEdit: the replacements are undone on the current text, last first. Undoing
  one is accepted only when exactly one earlier text is possible (Edit's ``old_string``
  is unique in the file it edits; a ``replace_all`` is undone only when ``new_string``
  occurs once). Otherwise ``tool_response.originalFile`` is used when Claude Code sent
  it; otherwise nothing is known of the state before, and only the state after is
  measured (an empty step: reward 0, never blocking), which the outcome says.
* Write: ``tool_response.originalFile`` when the file existed; no before text when
  Claude Code says it created the file (``type: "create"``); otherwise as above.

The step (the workspace with the edited file at its before text -> the workspace as it
is) is scored in memory by the ``StepEngine``, over the edited file and every file that
imports it. A reward below the threshold blocks: Claude Code then shows the model the
reason (the new diagnostics, ``path:line: severity: message``, and the reward).

Nothing here imports click or writes the user's files; exit codes are the CLI's business.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from codeprm.errors import CodeprmError, UsageError

if TYPE_CHECKING:
    from codeprm.analysis.step import StepEngine

#: The tools whose results are scored; every other tool is none of the hook's business.
EDIT_TOOLS = ("Edit", "Write", "MultiEdit")
#: At most this many new diagnostics are listed in a blocking reason.
MAX_LISTED = 10

BeforeSource = Literal["reversed", "originalFile", "created", "unknown"]


class HookError(CodeprmError):
    """A hook that cannot run: a malformed payload, or a wrong set-up (event, options).

    Exit 1 on purpose: for Claude Code, exit 2 blocks and feeds stderr to the model, while
    any other non-zero code is a non-blocking error shown to the user. A broken payload or
    set-up is the user's to fix, not the model's, so it must never exit 2.
    """

    exit_code = 1
    name = "hook"


@dataclass(frozen=True)
class Replacement:
    """One string replacement of Claude Code's Edit tool (MultiEdit applies several in order)."""

    old: str
    new: str
    replace_all: bool = False


@dataclass(frozen=True)
class HookEvent:
    """A PostToolUse payload, reduced to what scoring needs."""

    tool_name: str
    file_path: Path | None = None
    cwd: Path | None = None
    replacements: tuple[Replacement, ...] = ()
    original: str | None = None  # tool_response.originalFile, when Claude Code sent a text
    created: bool = False  # tool_response says Write created the file
    session_id: str | None = None

    @property
    def is_edit(self) -> bool:
        return self.tool_name in EDIT_TOOLS


@dataclass(frozen=True)
class Before:
    """The edited file's text before the edit (None: it did not exist) and how it was found."""

    text: str | None
    source: BeforeSource
    note: str = ""


@dataclass(frozen=True)
class HookOutcome:
    bundle: dict[str, Any]
    path: str  # workspace-relative
    before: Before
    reward: float
    threshold: float

    @property
    def blocked(self) -> bool:
        """Below the threshold; a step whose before state is unknown never blocks."""
        return self.before.source != "unknown" and self.reward < self.threshold

    def reason(self) -> str:
        """What the model reads when the step is blocked: the new diagnostics and the reward."""
        facts = self.bundle["facts"]
        introduced = facts["introduced"]
        tool = self.bundle["request"]["params"].get("tool", "edit")
        head = (
            f"codeprm: the {tool} of {self.path} scored a step reward of {self.reward:+.4f}, "
            f"below the threshold {self.threshold:g}."
        )
        lines = [head]
        if introduced:
            lines.append(f"It introduced {len(introduced)} new diagnostic(s):")
            for d in introduced[:MAX_LISTED]:
                where = f" (in {d['enclosing']})" if d.get("enclosing") else ""
                code = f" [{d['code']}]" if d.get("code") else ""
                message = ": ".join(
                    " ".join(line.split())
                    for line in str(d["message"]).splitlines()
                    if line.strip()
                )
                lines.append(
                    f"  {d['path']}:{d['range']['start']['line'] + 1}: {d['severity']}: "
                    f"{message}{code}{where}"
                )
            if len(introduced) > MAX_LISTED:
                lines.append(f"  ... and {len(introduced) - MAX_LISTED} more")
        if facts["fixed"]:
            lines.append(f"It fixed {len(facts['fixed'])} diagnostic(s).")
        lines.append(
            "Fix them before going on."
            if introduced
            else "The threshold asks for steps that make the code better."
        )
        return "\n".join(lines)

    def note(self) -> str:
        """A word for the user when the step could not be scored as a step (empty otherwise)."""
        return self.before.note


# -- payload ------------------------------------------------------------------------------------
def parse_payload(text: str) -> HookEvent:
    """The PostToolUse payload Claude Code writes on stdin; HookError when malformed."""
    from codeprm import safejson

    try:
        data = safejson.loads(text, what="hook payload is not JSON")
    except UsageError as err:
        raise HookError(err.message) from err
    if not isinstance(data, dict):
        raise HookError("hook payload must be a JSON object")
    event = data.get("hook_event_name")
    if event is not None and event != "PostToolUse":
        raise HookError(
            f"codeprm hook claude-code handles PostToolUse events, not {event!r}: "
            "register it under PostToolUse"
        )
    tool = data.get("tool_name")
    if not isinstance(tool, str) or not tool:
        raise HookError("hook payload has no tool_name")
    cwd = _opt_str(data, "cwd")
    session = _opt_str(data, "session_id")
    if tool not in EDIT_TOOLS:
        return HookEvent(tool, cwd=Path(cwd) if cwd else None, session_id=session)
    tool_input = data.get("tool_input")
    if not isinstance(tool_input, dict):
        raise HookError(f"hook payload for {tool} has no tool_input object")
    file_path = tool_input.get("file_path")
    if not isinstance(file_path, str) or not file_path:
        raise HookError(f"hook payload for {tool} has no tool_input.file_path")
    response = data.get("tool_response")
    response = response if isinstance(response, dict) else {}
    original = response.get("originalFile")
    replacements: tuple[Replacement, ...] = ()
    if tool == "Edit":
        replacements = (_replacement(tool_input, "tool_input"),)
    elif tool == "MultiEdit":
        edits = tool_input.get("edits")
        if not isinstance(edits, list) or not edits:
            raise HookError("hook payload for MultiEdit has no tool_input.edits list")
        replacements = tuple(_replacement(e, f"tool_input.edits[{i}]") for i, e in enumerate(edits))
    created = tool == "Write" and (
        response.get("type") == "create" or ("originalFile" in response and original is None)
    )
    return HookEvent(
        tool,
        file_path=Path(file_path),
        cwd=Path(cwd) if cwd else None,
        replacements=replacements,
        original=original if isinstance(original, str) else None,
        created=created,
        session_id=session,
    )


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _replacement(item: Any, where: str) -> Replacement:
    if not isinstance(item, dict):
        raise HookError(f"hook payload: {where} is not an object")
    old, new = item.get("old_string"), item.get("new_string")
    if not isinstance(old, str) or not isinstance(new, str):
        raise HookError(f"hook payload: {where} needs old_string and new_string (strings)")
    return Replacement(old, new, bool(item.get("replace_all", False)))


# -- the text before ----------------------------------------------------------------------------
def unapply(text: str, r: Replacement) -> str | None:
    """The one text that ``r`` turns into ``text``, or None when there is not exactly one."""
    if r.old == r.new:
        return text
    if not r.new:
        return None  # a deletion could have been anywhere: not reversible from the text alone
    starts = _occurrences(text, r.new)
    if r.replace_all and len(starts) != 1:
        return None  # other occurrences of new_string may have been there before
    found = set()
    for start in starts:
        before = text[:start] + r.old + text[start + len(r.new) :]
        if r.replace_all:
            ok = r.old in before and before.replace(r.old, r.new) == text
        else:  # Edit refuses an old_string that is not unique
            ok = before.count(r.old) == 1 and before.replace(r.old, r.new, 1) == text
        if ok:
            found.add(before)
    return found.pop() if len(found) == 1 else None


def _occurrences(text: str, needle: str) -> list[int]:
    out, at = [], text.find(needle)
    while at != -1:
        out.append(at)
        at = text.find(needle, at + 1)
    return out


def reconstruct_before(event: HookEvent, after: str | None) -> Before:
    """The edited file's text before the tool ran, from the text after and the payload."""
    if event.tool_name == "Write":
        if event.original is not None:
            return Before(event.original, "originalFile")
        if event.created:
            return Before(None, "created")
    elif after is not None:
        text: str | None = after
        for r in reversed(event.replacements):
            text = unapply(text, r) if text is not None else None
        if text is not None:
            return Before(text, "reversed")
        if event.original is not None:
            return Before(event.original, "originalFile")
    elif event.original is not None:
        return Before(event.original, "originalFile")
    name = event.file_path.name if event.file_path else "the file"
    return Before(
        after,
        "unknown",
        f"codeprm: could not rebuild {name} as it was before the {event.tool_name}; only "
        "the state after it was measured (reward 0)",
    )


# -- scoring ------------------------------------------------------------------------------------
def workspace_for(event: HookEvent, explicit: Path | None = None, cwd: Path | None = None) -> Path:
    """The workspace: explicit, else the git top level (or the session's cwd) holding the file.

    ``cwd``: the directory of the hook's own call (relative paths the payload does not
    place; None: the process's).
    """
    from codeprm.analysis.files import find_root

    assert event.file_path is not None
    path = _edited_path(event, cwd)
    start = path.parent
    session = _session_dir(event, cwd)
    if session is not None and session.is_dir() and _inside(path, session):
        start = session
    return find_root(start, explicit, cwd)


def _session_dir(event: HookEvent, cwd: Path | None) -> Path | None:
    """The payload's cwd (the agent's session), relative to the call's directory if relative."""
    if event.cwd is None or cwd is None:
        return event.cwd
    return cwd / event.cwd


def _edited_path(event: HookEvent, cwd: Path | None) -> Path:
    assert event.file_path is not None
    if event.file_path.is_absolute():
        return event.file_path
    return (_session_dir(event, cwd) or cwd or Path.cwd()) / event.file_path


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def file_of(event: HookEvent, root: Path, cwd: Path | None = None) -> tuple[Path, str] | None:
    """The edited file and its workspace-relative path; None when it is not a source file
    (of a language with a server: ``codeprm.languages``) of the workspace."""
    from codeprm.languages import language_of

    if not event.is_edit or event.file_path is None:
        return None
    path = _edited_path(event, cwd)
    if language_of(path.name) is None or not _inside(path, root):
        return None
    return path, path.resolve().relative_to(root.resolve()).as_posix()


def score_event(
    engine: StepEngine, event: HookEvent, path: Path, rel: str, *, threshold: float = 0.0
) -> HookOutcome:
    """Score the edit ``event`` made to ``path`` (already on disk) as one step, in memory."""
    from codeprm.analysis import files
    from codeprm.analysis.step import Safety
    from codeprm.rewards import Facts
    from codeprm.rewards.identity import counts
    from codeprm.workspace import WorkspaceChange

    after = files.read_source(path) if path.exists() else None
    before = reconstruct_before(event, after)
    texts = engine.workspace_texts()
    texts.pop(rel, None)
    if after is not None:
        texts[rel] = after
    safety = Safety({"jail": True, "cleanApply": True})
    request = {
        "operation": "hook",
        "params": {"tool": event.tool_name, "beforeSource": before.source},
        "meta": {
            "hook": "claude-code",
            **({"sessionId": event.session_id} if event.session_id else {}),
        },
    }
    if before.source == "unknown":
        # Nothing is known of the state before: measure the state after as an empty step.
        started = time.perf_counter()
        cover = engine.covered(texts, texts, [rel])
        located = engine.measure(texts, cover)
        c = counts(located)
        outcome = engine.step(
            texts,
            texts,
            WorkspaceChange(),
            located,
            Facts(c["error"], c["warning"], True, 1.0),
            safety=safety,
            confidence=1.0,
            cover=cover,
            request=request,
            started=started,
        )
    else:
        before_texts = {k: v for k, v in texts.items() if k != rel}
        if before.text is not None:
            before_texts[rel] = before.text
        change = WorkspaceChange.between(
            {rel: before.text} if before.text is not None else {},
            {rel: after} if after is not None else {},
        )
        outcome = engine.score(before_texts, change, safety=safety, request=request)
    reward = float(outcome.bundle["processReward"]["total"])
    return HookOutcome(outcome.bundle, rel, before, reward, threshold)
