"""Parse unified diffs (git-style and plain) and apply their hunks to texts; pure, no IO.

Parsing uses ``unidiff``; this module adds what codeprm needs on top of it: exact line
terminators (a diff line keeps its ``\\r``; ``\\ No newline at end of file`` removes the
``\\n`` of the line before it), C-quoted git paths, ``a/``/``b/`` prefixes, renames and
copies from git's extended headers, 1-based diff line numbers in every error, and
refusal of what a text edit cannot express (binary patches, mode changes, symlinks,
submodules).

Hunks apply at their stated line or, failing that, at the nearest line where their
old side matches exactly (like ``git apply`` without fuzz); a file whose line endings
are all CRLF (or all LF) also accepts a hunk written with the other ending, and a diff
saved with CRLF endings has the ``\r`` taken off its file names. A hunk that matches nowhere is an
ApplyConflictError
(exit 70) carrying the hunk.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from unidiff.constants import DEV_NULL
from unidiff.errors import UnidiffParseError
from unidiff.patch import Hunk as UnidiffHunk
from unidiff.patch import PatchedFile, PatchSet

from codeprm.errors import ApplyConflictError, UnsupportedCapabilityError, UsageError
from codeprm.workspace.edits import VirtualTree, WorkspaceChange
from codeprm.workspace.textcodec import dominant_eol

PatchKind = Literal["modify", "create", "delete", "rename", "copy"]
NO_NEWLINE_MARKER = "\\ No newline at end of file"


@dataclass(frozen=True, slots=True)
class Hunk:
    """One hunk; lines keep their exact terminators (the last may have none)."""

    old_start: int
    old_len: int
    new_start: int
    new_len: int
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]
    text: str
    diff_line: int

    @property
    def header(self) -> str:
        return self.text.split("\n", 1)[0]


@dataclass(frozen=True, slots=True)
class FilePatch:
    """The hunks for one file; ``old_path``/``new_path`` are None for /dev/null."""

    kind: PatchKind
    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...]
    diff_line: int

    @property
    def path(self) -> str:
        path = self.new_path if self.new_path is not None else self.old_path
        assert path is not None  # a FilePatch always names at least one side
        return path

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for p in (self.old_path, self.new_path) if p is not None))


@dataclass(frozen=True, slots=True)
class Patch:
    """A parsed unified diff: file patches in diff order."""

    files: tuple[FilePatch, ...]

    def paths(self) -> tuple[str, ...]:
        """Every path the diff reads or writes, in first-mention order."""
        return tuple(dict.fromkeys(p for f in self.files for p in f.paths))


class _CountingLines:
    """Feeds ``unidiff`` lines split on ``\\n`` only, remembering the 1-based line number."""

    def __init__(self, text: str) -> None:
        self.lineno = 0
        # StringIO's default newline="\n" splits on "\n" alone and translates nothing.
        self._lines = io.StringIO(text)

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self.lineno += 1
            yield line


def parse_unified_diff(text: str) -> Patch:
    """Parse a unified diff. Raises UsageError (with the diff line) when it is malformed."""
    if not isinstance(text, str):
        raise UsageError("a diff must be text")
    lines = _CountingLines(text)
    try:
        patch_set = PatchSet(lines)
    except (UnidiffParseError, ValueError) as err:  # ValueError: a 4,300+ digit hunk position
        raise UsageError(
            f"malformed diff at line {lines.lineno}: {str(err)[:200]}",
            details={"line": lines.lineno, "reason": str(err)[:200]},
        ) from err
    if not patch_set:
        raise UsageError("no file changes found in the diff", details={"line": 1})
    return Patch(tuple(_file_patch(pf) for pf in patch_set))


def _file_patch(pf: PatchedFile) -> FilePatch:
    line = pf.diff_line_no or 1
    info = [str(x).rstrip("\n") for x in (pf.patch_info or [])]
    is_git = bool(info) and info[0].startswith("diff --git ")
    if pf.is_binary_file:
        raise UnsupportedCapabilityError(
            f"binary patch for {_strip_prefix(_unquote(pf.target_file), 'b/')} at diff "
            f"line {line}; "
            "codeprm edits text files only (nothing was written)",
            details={"line": line, "reason": "binary"},
        )
    if pf.is_symlink or pf.is_submodule:
        raise UnsupportedCapabilityError(
            f"diff line {line}: symlink and submodule patches are not supported",
            details={"line": line, "reason": "symlink" if pf.is_symlink else "submodule"},
        )
    modes = {k: v for k, v in (_split_header(i) for i in info) if k in ("old mode", "new mode")}
    if modes and modes.get("old mode") != modes.get("new mode"):
        raise UnsupportedCapabilityError(
            f"diff line {line}: file mode changes are not supported",
            details={"line": line, "reason": "mode-change", **modes},
        )
    headers = dict(_split_header(i) for i in info)

    # A diff saved with CRLF line endings carries a \r after each file name.
    source, target = _unquote(pf.source_file.rstrip("\r")), _unquote(pf.target_file.rstrip("\r"))
    if _has_prefix(source, "a/") and _has_prefix(target, "b/"):
        source, target = _strip_prefix(source, "a/"), _strip_prefix(target, "b/")
    elif _has_prefix(source, "b/") and _has_prefix(target, "a/"):
        # ``git diff -R`` swaps the prefixes (``--- b/x`` / ``+++ a/x``); git apply takes it.
        source, target = _strip_prefix(source, "b/"), _strip_prefix(target, "a/")
    old_path = None if source == DEV_NULL else source
    new_path = None if target == DEV_NULL else target
    kind: PatchKind
    if "rename from" in headers or "copy from" in headers:
        verb = "rename" if "rename from" in headers else "copy"
        old_path = _unquote(headers[f"{verb} from"].rstrip("\r"))
        new_path = _unquote(headers.get(f"{verb} to", new_path or "").rstrip("\r"))
        kind = verb
    elif old_path is None and new_path is None:
        raise UsageError(f"diff line {line}: both sides are /dev/null", details={"line": line})
    elif old_path is None:
        kind = "create"
    elif new_path is None:
        kind = "delete"
    else:
        if old_path != new_path and is_git:
            raise UsageError(
                f"diff line {line}: {old_path} and {new_path} differ without a rename header",
                details={"line": line},
            )
        # A plain diff (``diff -u x.orig x``) names the file it produces on the +++ side.
        kind, old_path = "modify", new_path
    for path in (old_path, new_path):
        if path is not None and path == "":
            raise UsageError(f"diff line {line}: empty file name", details={"line": line})
    return FilePatch(kind, old_path, new_path, tuple(_hunk(h) for h in pf), line)


def _split_header(line: str) -> tuple[str, str]:
    for key in ("rename from", "rename to", "copy from", "copy to", "old mode", "new mode"):
        if line.startswith(key + " "):
            return key, line[len(key) + 1 :]
    return line, ""


#: No text codeprm edits has this many lines; a larger hunk position is a malformed diff.
MAX_LINE = 1 << 31


def _hunk(h: UnidiffHunk) -> Hunk:
    for value in (h.source_start, h.source_length, h.target_start, h.target_length):
        if value > MAX_LINE:
            line = next((ln.diff_line_no for ln in h if ln.diff_line_no), 1) - 1
            raise UsageError(
                f"malformed diff at line {line}: hunk position {value} is beyond any "
                f"file ({str(h).split(chr(10), 1)[0]})",
                details={"line": line, "reason": "hunk position out of range"},
            )
    entries: list[list[str]] = []
    for ln in h:
        kind = ln.line_type
        if kind == "\\":
            if entries and entries[-1][1].endswith("\n"):
                entries[-1][1] = entries[-1][1][:-1]
            continue
        if kind in (" ", "-", "+"):
            entries.append([kind, ln.value])
    old = tuple(v for k, v in entries if k in " -")
    new = tuple(v for k, v in entries if k in " +")
    first = next((ln.diff_line_no for ln in h if ln.diff_line_no), None)
    text = _format_hunk_text(h, entries)
    return Hunk(
        old_start=h.source_start,
        old_len=h.source_length,
        new_start=h.target_start,
        new_len=h.target_length,
        old_lines=old,
        new_lines=new,
        text=text,
        diff_line=(first - 1) if first else 0,
    )


def _format_hunk_text(h: UnidiffHunk, entries: list[list[str]]) -> str:
    header = str(h).split("\n", 1)[0]
    body = []
    for kind, value in entries:
        if value.endswith("\n"):
            body.append(kind + value)
        else:
            body.append(kind + value + "\n" + NO_NEWLINE_MARKER + "\n")
    return header + "\n" + "".join(body)


_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote_path(name: str) -> str:
    """A file name from a diff header with git's C-style quoting undone (UsageError if bad)."""
    return _unquote(name)


def _unquote(name: str) -> str:
    """Undo git's C-style quoting (``"a/\\303\\251.txt"``); other names pass unchanged."""
    if len(name) < 2 or not (name.startswith('"') and name.endswith('"')):
        return name
    body, out, i = name[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
            out.append(int(body[i + 1 : i + 4], 8))
            i += 4
        else:
            raise UsageError(f"bad escape in quoted file name {name}")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"quoted file name {name} is not UTF-8") from err


def _has_prefix(name: str, prefix: str) -> bool:
    return name == DEV_NULL or name.startswith(prefix)


def _strip_prefix(name: str, prefix: str) -> str:
    return name[len(prefix) :] if name.startswith(prefix) else name


def split_lines(text: str) -> list[str]:
    """Lines split on ``\\n`` only, each keeping its terminator (the last may have none)."""
    if not text:
        return []
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def apply_hunks(text: str, hunks: Sequence[Hunk], *, path: str = "") -> str:
    """Apply ``hunks`` in order to ``text``. Raises ApplyConflictError naming the failing hunk."""
    lines = split_lines(text)
    eol = dominant_eol(text)
    out: list[str] = []
    cursor = 0  # first line of ``lines`` not yet copied to ``out``
    offset = 0  # how far hunks have been found from where they say they are
    for index, hunk in enumerate(hunks):
        old, new = hunk.old_lines, hunk.new_lines
        expected = (hunk.old_start - 1 if hunk.old_len else hunk.old_start) + offset
        pos = _find(lines, old, expected, cursor)
        if pos is None and eol is not None:
            # Retry with the hunk in the file's line endings (a CRLF file, an LF diff or back).
            old, new = _with_eol(old, eol), _with_eol(new, eol)
            pos = _find(lines, old, expected, cursor)
        if pos is None:
            raise ApplyConflictError(
                f"hunk {index + 1} of {path or 'the file'} does not apply ({hunk.header})",
                details={
                    "path": path,
                    "hunk_index": index,
                    "hunk_header": hunk.header,
                    "hunk": hunk.text,
                    "diff_line": hunk.diff_line,
                    "expected_line": expected + 1,
                },
            )
        out.extend(lines[cursor:pos])
        out.extend(new)
        cursor = pos + len(old)
        offset = pos - (expected - offset)
    out.extend(lines[cursor:])
    return "".join(out)


def _with_eol(lines: tuple[str, ...], eol: str) -> tuple[str, ...]:
    """``lines`` with every terminator made ``eol``, if they all agree on one; else unchanged."""
    ends = {"\r\n" if x.endswith("\r\n") else "\n" for x in lines if x.endswith("\n")}
    if len(ends) != 1 or ends == {eol}:
        return lines
    cut = len(ends.pop())
    return tuple(x[:-cut] + eol if x.endswith("\n") else x for x in lines)


def _find(lines: list[str], old: tuple[str, ...], expected: int, lowest: int) -> int | None:
    """The line where ``old`` matches exactly, nearest to ``expected`` (earlier wins ties)."""
    n = len(old)
    highest = len(lines) - n
    if n == 0:
        return expected if lowest <= expected <= len(lines) else None
    if highest < lowest:
        return None
    # A stated position beyond the file searches from its end: the loop below stays within
    # the file's lines whatever the hunk header says.
    expected = min(max(expected, lowest), highest)
    for distance in range(max(expected - lowest, highest - expected, 0) + 1):
        for pos in (expected - distance, expected + distance) if distance else (expected,):
            if (
                lowest <= pos <= highest
                and lines[pos] == old[0]
                and tuple(lines[pos : pos + n]) == old
            ):
                return pos
    return None


def resolve_patch(patch: Patch, texts: Mapping[str, str]) -> WorkspaceChange:
    """The WorkspaceChange ``patch`` makes to ``texts`` (absent key = absent file). Pure."""
    tree = VirtualTree(texts)
    for fp in patch.files:
        _resolve_file(tree, fp)
    return tree.to_change()


def _conflict(fp: FilePatch, message: str) -> ApplyConflictError:
    return ApplyConflictError(
        f"{message} (diff line {fp.diff_line})",
        details={"path": fp.path, "diff_line": fp.diff_line, "kind": fp.kind},
    )


def _resolve_file(tree: VirtualTree, fp: FilePatch) -> None:
    old_path, new_path = fp.old_path, fp.new_path
    if fp.kind == "create":
        assert new_path is not None
        if tree.exists(new_path):
            raise _conflict(fp, f"{new_path} already exists but the diff creates it")
        tree.write(new_path, apply_hunks("", fp.hunks, path=new_path))
        return
    assert old_path is not None
    if not tree.exists(old_path):
        raise _conflict(fp, f"{old_path} does not exist but the diff changes it")
    result = apply_hunks(tree.read(old_path), fp.hunks, path=old_path)
    if fp.kind == "delete":
        if result:
            raise _conflict(fp, f"the diff deletes {old_path} but does not remove all of its text")
        tree.delete(old_path)
        return
    assert new_path is not None
    if fp.kind in ("rename", "copy") and new_path != old_path:
        if tree.exists(new_path):
            raise _conflict(fp, f"{new_path} already exists but the diff {fp.kind}s onto it")
        if fp.kind == "rename":
            tree.rename(old_path, new_path)
    tree.write(new_path, result)
