"""The one exception tree of codeprm; every error carries its stable exit code.

The table below is the contract shown by the README and ``codeprm --help``. Library
code raises these; only the CLI turns them into one line on stderr and an exit code.
"""

from __future__ import annotations

from typing import Any, ClassVar

#: exit code -> meaning. Kept in one place; README and --help render it.
EXIT_CODES: dict[int, str] = {
    0: "ok",
    1: "internal error (a bug in codeprm: please report it)",
    2: "bad selector or usage",
    3: "not found",
    4: "ambiguous",
    10: "version skew (a docVersion or schema version that cannot be honoured)",
    64: "language server timeout",
    65: "language server crash or unusable server",
    70: "apply conflict",
    71: "write denied or outside the workspace",
    72: "unsupported capability",
    73: "cancelled",
    74: "content modified",
    76: "replay mismatch",
    77: "gate failed: total reward below --fail-under",
    78: "gate failed: a step introduced new errors (--fail-on-new-errors)",
}


class CodeprmError(Exception):
    """Base of every error codeprm raises on purpose.

    ``details`` is structured, JSON-serialisable context that ``--json`` output keeps.
    """

    exit_code: ClassVar[int] = 1
    name: ClassVar[str] = "internal"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def one_line(self) -> str:
        """The message as a single line, as the CLI prints it."""
        return " ".join(self.message.split())


class UsageError(CodeprmError):
    exit_code = 2
    name = "usage"


class SelectorSyntaxError(UsageError):
    """A malformed selector; ``column`` is 1-based within the selector string."""

    name = "selector-syntax"

    def __init__(self, message: str, *, text: str, column: int, expected: str) -> None:
        super().__init__(
            f"bad selector at column {column}: {message} (expected {expected})",
            details={"selector": text, "column": column, "expected": expected},
        )
        self.text = text
        self.column = column
        self.expected = expected


class NotFoundError(CodeprmError):
    exit_code = 3
    name = "not-found"


class AmbiguousError(CodeprmError):
    exit_code = 4
    name = "ambiguous"


class VersionSkewError(CodeprmError):
    exit_code = 10
    name = "version-skew"


class ServerTimeoutError(CodeprmError):
    exit_code = 64
    name = "server-timeout"


class ServerCrashError(CodeprmError):
    exit_code = 65
    name = "server-crash"


class ApplyConflictError(CodeprmError):
    exit_code = 70
    name = "apply-conflict"


class WriteDeniedError(CodeprmError):
    exit_code = 71
    name = "write-denied"


class UnsupportedCapabilityError(CodeprmError):
    exit_code = 72
    name = "unsupported-capability"


class CancelledError(CodeprmError):
    exit_code = 73
    name = "cancelled"


class ContentModifiedError(CodeprmError):
    exit_code = 74
    name = "content-modified"


class ReplayMismatchError(CodeprmError):
    exit_code = 76
    name = "replay-mismatch"


class RewardGateError(CodeprmError):
    exit_code = 77
    name = "gate-fail-under"


class NewErrorsGateError(CodeprmError):
    exit_code = 78
    name = "gate-new-errors"
