"""Render step bundles as GitHub Actions workflow commands, one annotation per introduced
diagnostic.

``::error file=pkg/a.py,line=3,col=5,endLine=3,endColumn=9,title=...::message``;
warnings become ``::warning`` and information ``::notice``. Lines and columns are
1-based (converted from the bundles' 0-based positions). Values are escaped as the
Actions runner expects: in the message ``%``, ``\\r``, ``\\n``; in property values also
``:`` and ``,``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from codeprm.reports.steps import ReportDiagnostic, StepFacts, introduced_in_order, read_steps

COMMANDS = {"error": "error", "warning": "warning", "information": "notice", "hint": "notice"}


def to_github_annotations(bundles: Iterable[Mapping[str, Any]]) -> list[str]:
    """One workflow command per introduced diagnostic, by step, then path and position."""
    return [_annotation(step, d) for step, d in introduced_in_order(read_steps(bundles))]


def _annotation(step: StepFacts, d: ReportDiagnostic) -> str:
    title = f"codeprm step {step.index}"
    if step.short_commit:
        title += f" ({step.short_commit})"
    title += f": {d.rule_id}"
    properties = [
        ("file", d.path),
        ("line", str(d.start_line + 1)),
        ("col", str(d.start_character + 1)),
        ("endLine", str(d.end_line + 1)),
        ("endColumn", str(d.end_character + 1)),
        ("title", title),
    ]
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties)
    return f"::{COMMANDS.get(d.severity, 'warning')} {props}::{escape_data(d.message)}"


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF percent-encoded."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: as data, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
