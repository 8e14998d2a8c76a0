"""Render step bundles as a Markdown summary (GitHub-flavoured) for a CI job page or PR comment.

The summary is a table of steps (index, commit, reward, errors after, introduced and
fixed counts, safety), the total reward, and the introduced errors (and warnings, when
there are any) with 1-based ``path:line:column`` locations. Free text from commits and
diagnostics is escaped, so a message cannot break the table or inject markup.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from codeprm.reports.steps import ReportDiagnostic, StepFacts, read_steps

NONE = "—"
# inline markup, emphasis, links, HTML, entities, strikethrough and table cells
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~])")


def to_markdown(bundles: Iterable[Mapping[str, Any]], *, title: str) -> str:
    """The summary as Markdown text, ending with a newline."""
    steps = read_steps(bundles)
    lines = [f"# {escape(title)}", ""]
    if not steps:
        return "\n".join([*lines, "No steps.", ""])
    lines += [
        "| Step | Commit | Reward | Errors after | Introduced | Fixed | Safe |",
        "| ---: | :--- | ---: | ---: | ---: | ---: | :---: |",
    ]
    lines += [_row(step) for step in steps]
    lines += ["", _total(steps), ""]
    for severity, heading in (("error", "Introduced errors"), ("warning", "Introduced warnings")):
        found = [(s, d) for s in steps for d in s.introduced_of(severity)]
        if not found and severity != "error":
            continue
        lines += [f"## {heading}", ""]
        if not found:
            lines += ["No step introduced an error.", ""]
            continue
        lines += [_item(step, d) for step, d in found]
        lines.append("")
    return "\n".join(lines)


def _row(step: StepFacts) -> str:
    commit = NONE
    if step.short_commit:
        commit = code(step.short_commit) + (f" {escape(step.subject)}" if step.subject else "")
    elif step.subject:
        commit = escape(step.subject)
    if step.error is not None:
        cells = [str(step.index), commit, "error", NONE, NONE, NONE, NONE]
    else:
        errors_after = (
            str(step.after_counts.get("error", 0)) if step.after_counts is not None else NONE
        )
        safe = NONE if step.safe is None else ("yes" if step.safe else "**no**")
        cells = [
            str(step.index),
            commit,
            format_reward(step.reward),
            errors_after,
            str(len(step.introduced)),
            str(len(step.fixed)),
            safe,
        ]
    return "| " + " | ".join(cells) + " |"


def _total(steps: list[StepFacts]) -> str:
    scored = [s for s in steps if s.reward is not None]
    total = math.fsum(s.reward for s in scored if s.reward is not None)
    noun = "step" if len(steps) == 1 else "steps"
    text = f"**Total reward: {format_reward(total)}** over {len(steps)} {noun}"
    unsafe = sum(1 for s in scored if s.safe is False)
    failed = len(steps) - len(scored)
    notes = []
    if unsafe:
        notes.append(f"{unsafe} failed the safety checks")
    if failed:
        notes.append(f"{failed} could not be scored")
    return text + (f" ({'; '.join(notes)})." if notes else ".")


def _item(step: StepFacts, d: ReportDiagnostic) -> str:
    where = f"step {step.index}" + (f" ({code(step.short_commit)})" if step.short_commit else "")
    location = code(f"{d.path}:{d.start_line + 1}:{d.start_character + 1}")
    detail = code(d.rule_id) + (f" in {code(d.enclosing)}" if d.enclosing else "")
    return f"- {where}: {location} {escape(d.message)} ({detail})"


def format_reward(value: float | None) -> str:
    if value is None:
        return NONE
    rounded = round(value, 3)
    return f"{0.0 if rounded == 0 else rounded:+.3f}"


def escape(text: str) -> str:
    """Free text as inline Markdown: one line, special characters backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def code(text: str) -> str:
    """A code span that holds any text (a longer fence when the text has backticks)."""
    text = " ".join(text.split())
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
