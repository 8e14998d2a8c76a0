"""Render a step into model input text: the diff, the classifier text, the language-model prefix.

Pure and deterministic: the same step always renders to the same string, so that a content
hash of the rendered text can key the score cache. ``FORMAT_VERSION`` is recorded in every
checkpoint; changing any renderer here must bump it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from codeprm.prm.records import StepInput, canonical_json

FORMAT_VERSION = 1

#: Characters of context kept (the end nearest the edit): bounds the cost of long files.
MAX_CONTEXT_CHARS = 1500


def unified_diff(before: str, after: str, path: str = "", *, context_lines: int = 3) -> str:
    """A unified diff with ``a/``/``b/`` headers; every line ends with a newline."""
    name = path or "code"
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{name}",
        tofile=f"b/{name}",
        n=context_lines,
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def facts_text(facts: Mapping[str, Any]) -> str:
    """Language-server facts as canonical JSON ('' when there are none)."""
    return canonical_json(dict(facts)) if facts else ""


def _tail(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    nl = cut.find("\n")
    return cut[nl + 1 :] if 0 <= nl < len(cut) - 1 else cut


def classifier_text(step: StepInput) -> str:
    """Input of a sequence classifier: task, facts, the edit as a diff, the code before, context.

    The diff comes early so that right-truncation to the model's length cuts context first.
    """
    parts = []
    if step.task:
        parts.append(f"### task\n{step.task.strip()}\n")
    facts = facts_text(step.facts)
    if facts:
        parts.append(f"### facts\n{facts}\n")
    parts.append(f"### diff\n{unified_diff(step.before, step.after, step.path)}")
    parts.append(f"### before\n{step.before}")
    if step.context:
        parts.append(f"### context\n{_tail(step.context, MAX_CONTEXT_CHARS)}")
    return "\n".join(p if p.endswith("\n") else p + "\n" for p in parts)


def lm_prefix(step: StepInput) -> str:
    """What a causal LM is conditioned on before reading the code: task and facts as comments,
    then the code context. Ends with a newline (or is empty)."""
    parts = []
    if step.task:
        parts.extend(f"# {line}".rstrip() for line in step.task.strip().splitlines())
    facts = facts_text(step.facts)
    if facts:
        parts.append(f"# language server: {facts}")
    head = "\n".join(parts) + "\n" if parts else ""
    context = _tail(step.context, MAX_CONTEXT_CHARS)
    if context and not context.endswith("\n"):
        context += "\n"
    return head + context
