"""What a selector's docVersion refers to: the current text, a remembered older one, or neither.

A docVersion that is neither current nor remembered cannot be honoured by position
(cursor and range selectors then fail with ``VersionSkewError``); name-based selectors
still resolve by name but report ``version_check="unverified"``. Whenever a selector with a
docVersion that is not current cannot be re-found confidently, the ``NotFoundError`` or
``AmbiguousError`` becomes a ``VersionSkewError`` (exit 10) carrying the same details.
Pure: reads only the index.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from codeprm.errors import AmbiguousError, NotFoundError, VersionSkewError
from codeprm.selectors.index import WorkspaceIndex
from codeprm.selectors.result import VersionCheck

State = Literal["none", "current", "history", "unknown"]
_CHECK: dict[State, VersionCheck] = {
    "none": "none",
    "current": "current",
    "history": "relocated",
    "unknown": "unverified",
}


@dataclass(frozen=True, slots=True)
class VersionState:
    version: str | None
    state: State
    old_path: str | None = None
    old_text: str | None = None

    @property
    def check_if_found(self) -> VersionCheck:
        return _CHECK[self.state]

    @property
    def skewed(self) -> bool:
        return self.state in ("history", "unknown")


def version_state(
    index: WorkspaceIndex, version: str | None, paths: Sequence[str], module: str | None = None
) -> VersionState:
    """Classify ``version`` against the current texts of ``paths`` and the index history.

    With ``module``, remembered texts of any path that had that module name count too
    (the module's file may have moved or been deleted).
    """
    if version is None:
        return VersionState(None, "none")
    for path in paths:
        f = index.file(path)
        if f is not None and f.sha256.startswith(version):
            return VersionState(version, "current")
    hits = index.versions(version)
    preferred = [h for h in hits if h[0] in paths]
    if not preferred and module is not None:
        preferred = [h for h in hits if index.module_of(h[0]) == module]
    if not preferred and not paths:
        preferred = hits
    if preferred:
        path, _sha, text = preferred[0]
        return VersionState(version, "history", path, text)
    return VersionState(version, "unknown")


@contextmanager
def honour(ver: VersionState, selector: str) -> Generator[None]:
    """Turn not-found/ambiguous into version skew when the docVersion is not current."""
    try:
        yield
    except (NotFoundError, AmbiguousError) as err:
        if not ver.skewed:
            raise
        known = "an older text" if ver.state == "history" else "a text this index never saw"
        raise VersionSkewError(
            f"{selector}: docVersion {ver.version} is {known} and the element cannot be "
            f"re-found confidently ({err.one_line()})",
            details={**err.details, "docVersion": ver.version, "cause": err.name},
        ) from err
