"""Previewed edits over a live session: rename (gated), code actions, arbitrary edits.

Everything here plans a change and describes it (a unified diff plus a bundle); only
``write`` touches the disk, through ``codeprm.workspace.apply_change`` (jail, git
guard, atomic multi-file apply), and then tells the session the new texts so later
diagnostics are fresh.
"""

from __future__ import annotations

import keyword
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeprm.analysis import files, structure
from codeprm.analysis.navigate import Analyzer, Target
from codeprm.analysis.step import StepEngine, texts_digest
from codeprm.bundles import make_bundle
from codeprm.errors import (
    AmbiguousError,
    ApplyConflictError,
    CodeprmError,
    NotFoundError,
    UsageError,
)
from codeprm.rewards.identity import delta
from codeprm.workspace import (
    ApplyOptions,
    WorkspaceChange,
    apply_change,
    plan_workspace_edit,
    preview,
)
from codeprm.workspace.edits import apply_to_texts


@dataclass(frozen=True)
class Planned:
    """A change ready to preview or write, and the bundle that describes it."""

    change: WorkspaceChange
    diff: str
    bundle: dict[str, Any]


def check_identifier(name: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise UsageError(f"{name!r} is not a valid Python identifier")


def _defined_in_scope(text: str, qualname: str, new_name: str) -> bool:
    """Whether ``new_name`` already names a definition beside ``qualname`` (same parent)."""
    parent = qualname.rpartition(".")[0]
    sibling = f"{parent}.{new_name}" if parent else new_name
    return any(d.qualname == sibling for d in structure.definitions(text))


class EditPlanner:
    """Rename, code actions and arbitrary edits, each planned against the disk as it is."""

    def __init__(self, analyzer: Analyzer) -> None:
        self.analyzer = analyzer
        self.engine = StepEngine(analyzer)

    @property
    def root(self) -> Path:
        return self.analyzer.root

    def _bundle(
        self,
        operation: str,
        change: WorkspaceChange,
        before: Mapping[str, str],
        facts: dict[str, Any],
        started: float,
        target: Target | None,
    ) -> dict[str, Any]:
        return self.analyzer.record(
            make_bundle(
                request={
                    "operation": operation,
                    "workspaceDigest": texts_digest(before),
                    "targets": list(change.paths),
                    "selector": target.selector if target else None,
                    "params": facts.pop("params", {}),
                },
                resolution=target.resolution if target else None,
                facts=facts,
                edits=change.to_json(),
                environment=self.analyzer.environment(list(change.paths)),
                capabilities=self.analyzer.capabilities(list(change.paths)),
                meta=self.analyzer.meta(started),
            )
        )

    def _new_problems(
        self,
        before: Mapping[str, str],
        change: WorkspaceChange,
        renames: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Diagnostics the change introduces and fixes, measured in memory over its importers
        too."""
        after = apply_to_texts(before, change)
        cover = self.engine.covered(before, after, change.paths)
        d = delta(self.engine.measure(before, cover), self.engine.measure(after, cover), renames)
        self._hold(before)  # leave the session holding what is on disk
        return d.to_json()

    def _hold(self, texts: Mapping[str, str]) -> None:
        """Make the session's open documents hold ``texts`` (closed where it lacks them).

        Not ``measure(before)``: a memoised snapshot is answered without syncing anything.
        """
        self.engine.mirror(texts)

    def rename(self, selector: str, new_name: str, index_io: str = "utf-16") -> Planned:
        started = time.perf_counter()
        check_identifier(new_name)
        target = self.analyzer.resolve(selector, index_io, anchor=True)
        before = self.analyzer.open_all()
        rel = files.relative(self.root, target.path)
        where = target.position
        span = self.analyzer.session.prepare_rename(target.path, where)
        if span is None:
            raise NotFoundError(f"nothing renamable at {selector} (prepareRename refused)")
        text = before[rel]
        old_name = _slice(text, span)
        qualname = structure.enclosing(text, [where])[0]
        if (
            qualname
            and qualname.rpartition(".")[2] == old_name
            and _defined_in_scope(text, qualname, new_name)
        ):
            raise ApplyConflictError(
                f"renaming {old_name} to {new_name} clashes with an existing definition "
                f"of {new_name} in the same scope"
            )
        edit = self.analyzer.session.rename(target.path, where, new_name)
        if not edit:
            raise NotFoundError(f"the server proposes no edit to rename {old_name}")
        change = plan_workspace_edit(self.root, edit, options=ApplyOptions(allow_dirty=True))
        problems = self._new_problems(before, change, {old_name: new_name})
        if problems["introduced"]:
            first = problems["introduced"][0]
            raise ApplyConflictError(
                f"renaming {old_name} to {new_name} introduces "
                f"{len(problems['introduced'])} new diagnostic(s), first: "
                f"{first['path']}:{first['range']['start']['line'] + 1}: "
                f"{first['message']}",
                details=problems,
            )
        facts = {
            "params": {"newName": new_name},
            "oldName": old_name,
            "prepareRename": span.to_json(),
            **problems,
        }
        return Planned(
            change, preview(change), self._bundle("rename", change, before, facts, started, target)
        )

    def actions(self, selector: str, index_io: str = "utf-16") -> dict[str, Any]:
        """Code actions at a place, each with its edit resolved to a diff; a bundle."""
        started = time.perf_counter()
        target = self.analyzer.resolve(selector, index_io)
        before = self.analyzer.open_all()
        diags = [
            d
            for d in self.analyzer.session.diagnostics(target.path)
            if _overlaps(d.range, target.range)
        ]
        listed = [
            describe_action(self.root, action)
            for action in self.analyzer.session.code_actions(target.path, target.range, diags)
        ]
        listed.sort(key=lambda a: (a["kind"] or "", a["title"]))
        facts = {"actions": listed, "diagnostics": [d.to_json() for d in diags]}
        return self._bundle("actions", WorkspaceChange(), before, facts, started, target)

    def edit(self, text: str) -> Planned:
        """An arbitrary edit (unified diff or WorkspaceEdit), previewed with its diagnostics
        delta."""
        from codeprm.analysis.step import plan_edit

        started = time.perf_counter()
        change = plan_edit(self.root, text)
        before = {**self.engine.workspace_texts(), **change.old_texts()}
        facts = {"params": {}, **self._new_problems(before, change)}
        return Planned(
            change, preview(change), self._bundle("apply", change, before, facts, started, None)
        )

    def write(
        self,
        planned: Planned,
        options: ApplyOptions,
        target_confidence: float | None = None,
        allow_ambiguous: bool = False,
    ) -> dict[str, Any]:
        """Write a planned change atomically, then sync the session with the new texts."""
        if target_confidence is not None and target_confidence < 1.0 and not allow_ambiguous:
            raise AmbiguousError(
                "refusing to apply: the selector resolved with confidence "
                f"{target_confidence:.3f} < 1 (use --allow-ambiguous)"
            )
        result = apply_change(self.root, planned.change, options=options)
        for e in planned.change.edits:
            path = self.root / e.path
            if e.new_text is None:
                self.analyzer.session.close_document(path)
            elif e.path.endswith((".py", ".pyi")):
                self.analyzer.session.sync(path, files.read_source(path))
        return result.to_json()


def describe_action(root: Path, action: Mapping[str, Any]) -> dict[str, Any]:
    """A code action as listed: title, kind, and its edit as a diff (or why it does not apply)."""
    entry: dict[str, Any] = {"title": action.get("title", ""), "kind": action.get("kind")}
    if action.get("edit"):
        try:
            change = plan_workspace_edit(
                root, action["edit"], options=ApplyOptions(allow_dirty=True)
            )
            entry.update(edits=change.to_json(), diff=preview(change))
        except (
            CodeprmError
        ) as err:  # a malformed or escaping edit is listed, not fatal; a bug is a bug
            entry["error"] = err.one_line()
    return entry


def _slice(text: str, span: Any) -> str:
    from codeprm.selectors.position_encoding import LineTable

    table = LineTable(text)
    return text[
        table.position_to_offset(span.start, "utf-16") : table.position_to_offset(
            span.end, "utf-16"
        )
    ]


def _overlaps(a: Any, b: Any) -> bool:
    return not (a.end < b.start or b.end < a.start)
