"""CI reports of scored steps: SARIF 2.1.0, a Markdown summary, GitHub annotations; pure functions
of bundles."""

from __future__ import annotations

from codeprm.reports.annotations import to_github_annotations
from codeprm.reports.markdown import to_markdown
from codeprm.reports.sarif import to_sarif, validate_sarif
from codeprm.reports.steps import ReportDiagnostic, StepFacts, read_steps

__all__ = [
    "ReportDiagnostic",
    "StepFacts",
    "read_steps",
    "to_github_annotations",
    "to_markdown",
    "to_sarif",
    "validate_sarif",
]
