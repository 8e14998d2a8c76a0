"""Render a WorkspaceChange as a git-style unified diff that reproduces it exactly; pure.

The diff is lossless for text: every line keeps its terminator (``\\r`` included), a last
line without ``\\n`` gets git's ``\\ No newline at end of file``, and renames use git's
``rename from``/``rename to`` headers. Parsing the preview with ``diffs`` and applying it
to the old texts gives back the new texts character for character, so the preview is
exactly what an apply writes (the BOM and encoding are the file's, kept by the writer).
``git apply`` accepts the preview too, byte for byte for UTF-8 files without a BOM; for
other encodings the preview shows the decoded text, which git (diffing bytes) would not.
"""

from __future__ import annotations

import difflib

from codeprm.workspace.diffs import NO_NEWLINE_MARKER, split_lines
from codeprm.workspace.edits import FileEdit, WorkspaceChange

_NEEDS_QUOTING = frozenset('"\\') | frozenset(chr(c) for c in [*range(0x20), 0x7F])
_QUOTE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v",
                  "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}  # fmt: skip


def preview(change: WorkspaceChange, *, context: int = 3) -> str:
    """The unified diff of ``change`` (empty string for an empty change)."""
    renamed = {e.renamed_from for e in change.edits if e.renamed_from}
    parts: list[str] = []
    for edit in change.edits:
        if edit.path in renamed:
            continue  # shown together with the file it was renamed to
        parts.append(_file_diff(change, edit, context))
    return "".join(parts)


def _file_diff(change: WorkspaceChange, edit: FileEdit, context: int) -> str:
    old_path = edit.renamed_from or edit.path
    old_text = edit.old_text
    if edit.renamed_from is not None:
        source = change.get(edit.renamed_from)
        assert source is not None  # WorkspaceChange validates renamed_from
        old_text = source.old_text
    a, b = _quote("a/" + old_path), _quote("b/" + edit.path)
    head = [f"diff --git {a} {b}\n"]
    if edit.renamed_from is not None:
        head += [f"rename from {_quote(old_path)}\n", f"rename to {_quote(edit.path)}\n"]
    elif old_text is None:
        head.append("new file mode 100644\n")
    elif edit.new_text is None:
        head.append("deleted file mode 100644\n")
    hunks = unified_hunks(old_text or "", edit.new_text or "", context=context)
    if not hunks:
        return "".join(head)
    head.append(f"--- {a if old_text is not None else '/dev/null'}\n")
    head.append(f"+++ {b if edit.new_text is not None else '/dev/null'}\n")
    return "".join(head) + hunks


def unified_hunks(old: str, new: str, *, context: int = 3) -> str:
    """The ``@@`` hunks turning ``old`` into ``new``, exact to the byte."""
    a, b = split_lines(old), split_lines(new)
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@\n")
        for tag, x1, x2, y1, y2 in group:
            if tag == "equal":
                out.extend(_line(" ", line) for line in a[x1:x2])
                continue
            if tag in ("replace", "delete"):
                out.extend(_line("-", line) for line in a[x1:x2])
            if tag in ("replace", "insert"):
                out.extend(_line("+", line) for line in b[y1:y2])
    return "".join(out)


def _range(start: int, stop: int) -> str:
    length = stop - start
    if length == 1:
        return f"{start + 1}"
    return f"{start + 1 if length else start},{length}"


def _line(prefix: str, line: str) -> str:
    if line.endswith("\n"):
        return prefix + line
    return f"{prefix}{line}\n{NO_NEWLINE_MARKER}\n"


def _quote(name: str) -> str:
    """Git's C-style quoting, used only when the name needs it."""
    if not any(ch in _NEEDS_QUOTING for ch in name):
        return name
    body = "".join(
        _QUOTE_ESCAPES.get(ch) or (f"\\{ord(ch):03o}" if ch in _NEEDS_QUOTING else ch)
        for ch in name
    )
    return f'"{body}"'
