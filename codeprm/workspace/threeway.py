"""Apply a diff with ``git apply --3way`` and report conflicts as data, never as markers on disk.

git runs on a scratch copy: a temporary work tree holding the files the diff touches,
and a temporary copy of the index in which those files are re-added with their current
content (so the merge's "ours" is what is on disk, staged or not). Only the real
repository's object database is shared (git adds the blobs it hashes there, as any
``git add`` would). A clean merge becomes a WorkspaceChange written by the normal
checked, journaled transaction; a conflict is an ApplyConflictError (exit 70) listing,
per file, each conflicting region's line and its "ours"/"theirs" lines, and nothing in
the workspace is touched. The diff needs git's ``index <old>..<new>`` lines and the old
blobs in the repository to fall back to a 3-way merge, as with ``git apply --3way``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeprm.errors import ApplyConflictError, CodeprmError, UnsupportedCapabilityError, UsageError
from codeprm.workspace.apply import (
    DEFAULT_OPTIONS,
    ApplyOptions,
    ApplyResult,
    FileState,
    apply_locked,
    precheck,
    read_state,
)
from codeprm.workspace.diffs import parse_unified_diff
from codeprm.workspace.edits import WorkspaceChange
from codeprm.workspace.gitguard import open_repo
from codeprm.workspace.jail import Jail
from codeprm.workspace.textcodec import decode
from codeprm.workspace.transaction import recover_locked, workspace_lock


@dataclass(frozen=True, slots=True)
class ConflictRegion:
    """One ``<<<<<<< ours`` ... ``>>>>>>> theirs`` region; ``line`` is 1-based."""

    line: int
    ours: tuple[str, ...]
    theirs: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "ours": list(self.ours), "theirs": list(self.theirs)}


def conflict_regions(text: str) -> list[ConflictRegion]:
    """The conflict regions git left in ``text`` (diff3-style base sections are skipped)."""
    regions, lines = [], text.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("<<<<<<<"):
            i += 1
            continue
        start, ours, theirs, part = i + 1, [], [], "ours"
        i += 1
        while i < len(lines) and not lines[i].startswith(">>>>>>>"):
            line = lines[i]
            if line.startswith("|||||||"):
                part = "base"
            elif line.startswith("=======") and part != "theirs":
                part = "theirs"
            elif part == "ours":
                ours.append(line)
            elif part == "theirs":
                theirs.append(line)
            i += 1
        regions.append(ConflictRegion(start, tuple(ours), tuple(theirs)))
        i += 1
    return regions


def _git_env(git_dir: str, work_tree: Path, index: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_DIR=git_dir, GIT_WORK_TREE=str(work_tree), GIT_INDEX_FILE=str(index), LC_ALL="C")
    return env


def _git(
    args: list[str], *, cwd: Path, env: dict[str, str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    import git

    exe = git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git"
    return subprocess.run(
        [exe, *args], cwd=cwd, env=env, input=stdin, capture_output=True, check=False
    )


def _decode_like(data: bytes, state: FileState, path: str) -> str:
    """Decode git's result with the old file's codec, so writing it back gives git's bytes."""
    codec = state.codec
    if state.data is not None and data.startswith(codec.bom):
        try:
            return data[len(codec.bom) :].decode(codec.encoding)
        except UnicodeDecodeError:
            pass
    return decode(data, path=path)[0]


def apply_diff_3way(
    root: str | os.PathLike[str], diff: str, *, options: ApplyOptions = DEFAULT_OPTIONS
) -> ApplyResult:
    """Merge ``diff`` into the workspace with ``git apply --3way``; conflicts raise
    ApplyConflictError."""
    jail = Jail.at(root, options.allow, options.deny)
    with workspace_lock(jail.root):
        recovery = recover_locked(jail.root)
        patch = parse_unified_diff(diff)
        repo = open_repo(jail.root)
        if repo is None or repo.working_tree_dir is None:
            raise UnsupportedCapabilityError(
                "a 3-way apply needs a git repository",
                details={"root": str(jail.root), "reason": "no-git"},
            )
        try:
            top = Path(os.path.realpath(repo.working_tree_dir))
            git_dir = str(Path(repo.git_dir).resolve())
            index_path = Path(repo.index.path)
        finally:
            repo.close()
        prefix = jail.root.relative_to(top).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        paths = patch.paths()
        targets = precheck(jail, paths, options)
        states = {p: read_state(p, targets[p]) for p in paths}
        new_bytes = _merge(diff, states, prefix=prefix, git_dir=git_dir, index=index_path)
        old = {p: s.text for p, s in states.items() if s.text is not None}
        new = {}
        for p, data in new_bytes.items():
            new[p] = _decode_like(data, states[p], p)
        renames = {
            f.new_path: f.old_path
            for f in patch.files
            if f.kind == "rename" and f.new_path and f.old_path
        }
        change = WorkspaceChange.between(old, new, renames)
        return apply_locked(jail, change, options, recovery, dirty_checked=True)


def _merge(
    diff: str, states: dict[str, FileState], *, prefix: str, git_dir: str, index: Path
) -> dict[str, bytes]:
    """Run git on a scratch tree; the resulting bytes of every path that exists afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="codeprm-3way-"))
    try:
        work, scratch_index = scratch / "wt", scratch / "index"
        work.mkdir()
        if index.exists():
            shutil.copyfile(index, scratch_index)
        present = []
        for path, state in states.items():
            if state.data is None:
                continue
            dest = work / (prefix + path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(state.data)
            if state.mode is not None:
                os.chmod(dest, state.mode)
            present.append(prefix + path)
        env = _git_env(git_dir, work, scratch_index)
        if present:
            added = _git(["update-index", "--add", "--", *present], cwd=work, env=env)
            if added.returncode != 0:
                raise ApplyConflictError(
                    f"git update-index failed: {added.stderr.decode(errors='replace').strip()}",
                    details={"git_output": added.stderr.decode(errors="replace")},
                )
        args = ["apply", "--3way", "--whitespace=nowarn"]
        if prefix:
            args.append(f"--directory={prefix.rstrip('/')}")
        result = _git(
            [*args, "-"], cwd=work, env=env, stdin=diff.encode("utf-8", "surrogateescape")
        )
        output = (result.stdout + result.stderr).decode(errors="replace")
        if result.returncode != 0:
            raise _conflict_error(output, states, work, prefix)
        out = {}
        for path in states:
            dest = work / (prefix + path)
            if dest.is_file():
                out[path] = dest.read_bytes()
        return out
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _conflict_error(
    output: str, states: dict[str, FileState], work: Path, prefix: str
) -> CodeprmError:
    unmerged = {line[2:].strip() for line in output.splitlines() if line.startswith("U ")}
    files = []
    for path in states:
        dest = work / (prefix + path)
        if (prefix + path) not in unmerged or not dest.is_file():
            continue
        text = dest.read_bytes().decode("utf-8", errors="replace")
        files.append({"path": path, "conflicts": [r.to_json() for r in conflict_regions(text)]})
    if files:
        count = sum(len(f["conflicts"]) for f in files)
        names = ", ".join(f["path"] for f in files)
        return ApplyConflictError(
            f"3-way apply left {count} conflicting region(s) in {names}; nothing was written",
            details={"files": files, "git_output": output},
        )
    if "corrupt patch" in output or "No valid patches" in output:
        return UsageError(
            f"git cannot read the diff: {output.strip()}", details={"git_output": output}
        )
    return ApplyConflictError(
        f"git apply --3way failed: {output.strip()}; nothing was written",
        details={"files": [], "git_output": output},
    )
