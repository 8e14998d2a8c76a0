"""What the importers share: the workspace's files read on demand, sandbox prefixes, and the
reconciliation of a replayed run with the patch the run submitted.

Agents run in sandboxes where the repository lives at ``/workspace/<repo>`` (OpenHands'
SWE-bench images), ``/testbed`` (SWE-bench), ``/repo`` or ``/<owner>__<repo>`` (SWE-agent
0.x). ``detect_prefix`` picks the prefix that turns the sandbox paths into repository paths,
preferring the one under which most paths name files the caller knows (the workspace, the
submitted patch).

A replay rebuilt from editor commands misses what the agent did with shell commands
(``sed -i``, ``rm``, ``git checkout``); ``reconcile`` returns the change from the replayed
state to the submitted patch applied to the base, so that a trajectory always ends in the
state the run submitted, and says which files it touched.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from codeprm.errors import UsageError
from codeprm.workspace.diffs import parse_unified_diff, resolve_patch
from codeprm.workspace.edits import WorkspaceChange, apply_to_texts

SANDBOX_ROOTS = ("/workspace/", "/testbed/", "/repo/")
_SWE_BENCH_DIR = re.compile(
    r"^[A-Za-z0-9_.-]+__[A-Za-z0-9_.-]+$"
)  # owner__repo, owner__repo__1.0, owner__repo-123
_DIFF_PATH = re.compile(r"^diff --git a/(.*?) b/(.*)$", re.M)


class WorkspaceFiles(Mapping[str, str]):
    """The text files of a directory, read when first asked for (any file type, not only Python).

    Iteration yields only the files read so far: callers ask for the paths they need first.
    A path that is missing, a directory, outside the root, binary or not UTF-8 is absent.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._cache: dict[str, str | None] = {}

    def _load(self, path: str) -> str | None:
        if path in self._cache:
            return self._cache[path]
        text: str | None = None
        norm = posixpath.normpath(path)
        if not (norm.startswith(("../", "/")) or norm in ("..", ".")):
            file = self.root / norm
            try:
                if file.is_file() and file.resolve().is_relative_to(self.root):
                    data = file.read_bytes()
                    text = None if b"\0" in data else data.decode("utf-8")
            except (OSError, UnicodeDecodeError):
                text = None
        self._cache[path] = text
        return text

    def __getitem__(self, path: str) -> str:
        if not isinstance(path, str):
            raise KeyError(path)
        text = self._load(path)
        if text is None:
            raise KeyError(path)
        return text

    def __iter__(self) -> Iterator[str]:
        return iter([p for p, t in self._cache.items() if t is not None])

    def __len__(self) -> int:
        return sum(1 for t in self._cache.values() if t is not None)


def materialize(base: Mapping[str, str], paths: Iterable[str]) -> dict[str, str]:
    """``base`` as a plain dict that holds at least ``paths`` (those that exist)."""
    for path in paths:
        base.get(path)
    return dict(base)


def patch_paths(patch: str | None) -> list[str]:
    """The repository paths a git diff names (both sides of renames), in order, deduplicated."""
    out: list[str] = []
    for old, new in _DIFF_PATH.findall(patch or ""):
        for p in (old, new):
            if p not in out:
                out.append(p)
    return out


def detect_prefix(paths: list[str], known: Mapping[str, str] | Iterable[str] | None = None) -> str:
    """The sandbox prefix to strip from absolute ``paths`` ("" when none is absolute)."""
    absolute = [p for p in paths if p.startswith("/")]
    if not absolute:
        return ""
    common = _common_dir(absolute)
    default = common
    for root in SANDBOX_ROOTS:
        if all(p.startswith(root) for p in absolute):
            default = root
            rest = common[len(root) :].split("/")[0]
            if root == "/workspace/" and rest and _SWE_BENCH_DIR.match(rest):
                default = root + rest + "/"  # /workspace/<owner>__<repo>__<version>/
            break
    else:
        first = common.strip("/").split("/")[0]
        if first and _SWE_BENCH_DIR.match(first):
            default = "/" + first + "/"  # SWE-agent 0.x: /<owner>__<repo>/
    if not known:
        return default
    names = known if isinstance(known, Mapping) else set(known)
    parts = [p for p in common.strip("/").split("/") if p]
    candidates = [default] + [
        "/" + "/".join(parts[:n]) + "/" if n else "/" for n in range(len(parts) + 1)
    ]

    def hits(prefix: str) -> int:
        return sum(1 for p in absolute if p.startswith(prefix) and p[len(prefix) :] in names)

    best = max(candidates, key=lambda c: (hits(c), c == default, len(c)))
    return best if hits(best) > hits(default) else default


def _common_dir(paths: list[str]) -> str:
    dirs = [posixpath.dirname(p) for p in paths]
    common = posixpath.commonpath(dirs) if dirs else "/"
    return common if common.endswith("/") else common + "/"


def relative_path(raw: str, prefix: str, *, where: str) -> str:
    """``raw`` (absolute in the sandbox, or relative) as a repository path; UsageError outside
    it."""
    path = raw
    if path.startswith("/"):
        if not prefix or not path.startswith(prefix):
            raise UsageError(
                f"{where}: {raw} is not under the sandbox prefix {prefix or '(none)'}; "
                "pass strip_prefix"
            )
        path = path[len(prefix) :]
    norm = posixpath.normpath(path)
    if norm in (".", "", "..") or norm.startswith(("../", "/")):
        raise UsageError(f"{where}: {raw} does not name a file inside the workspace")
    return norm


def submitted_state(base: Mapping[str, str], patch: str) -> dict[str, str]:
    """The files after applying the submitted ``patch`` to ``base`` (ApplyConflictError when it does
    not fit)."""
    if not patch.strip():
        return dict(base)
    text = patch if patch.endswith("\n") else patch + "\n"
    change = resolve_patch(parse_unified_diff(text), base)
    return apply_to_texts(base, change)


def reconcile(
    running: Mapping[str, str | None], base: Mapping[str, str], target: Mapping[str, str]
) -> WorkspaceChange:
    """The change from the replayed files to ``target`` over every path either side touched.

    ``running`` maps the paths the replay touched to their texts (None: absent); other
    files are as in ``base``.
    """
    paths = (
        set(running)
        | {p for p in target if target.get(p) != base.get(p)}
        | {p for p in base if p not in target}
    )
    old = {p: t for p in paths if (t := running[p] if p in running else base.get(p)) is not None}
    new = {p: target[p] for p in paths if p in target}
    return WorkspaceChange.between(old, new)
