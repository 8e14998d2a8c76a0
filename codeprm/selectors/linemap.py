"""Map line numbers of an old version of a text to the current version (a line diff).

Lines inside unchanged runs map exactly; lines inside changed runs map approximately to
the start of the run that replaced them. Pure (difflib on LSP-split lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from codeprm.selectors.position_encoding import split_lines


@dataclass(frozen=True, slots=True)
class LineMap:
    """``opcodes`` of ``SequenceMatcher`` from the old lines to the new ones."""

    opcodes: tuple[tuple[str, int, int, int, int], ...]

    def exact(self, line: int) -> int | None:
        """The new line of old ``line`` if that line is unchanged, else None."""
        for tag, i1, i2, j1, _j2 in self.opcodes:
            if i1 <= line < i2:
                return j1 + (line - i1) if tag == "equal" else None
        return None

    def approx(self, line: int) -> int:
        """The new line of old ``line``, or the start of what replaced it."""
        for tag, i1, i2, j1, j2 in self.opcodes:
            if i1 <= line < i2:
                if tag == "equal":
                    return j1 + (line - i1)
                return min(j1 + (line - i1), max(j1, j2 - 1))
        return self.opcodes[-1][4] if self.opcodes else line


def line_map(old_text: str, new_text: str) -> LineMap:
    old, new = split_lines(old_text), split_lines(new_text)
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    return LineMap(tuple(matcher.get_opcodes()))
