"""Reward-hacking guard: what a step hid instead of fixing, detected from its texts. Pure.

A step can make a diagnostic disappear without fixing it. The guard detects the ways an
agent (or an RL policy) learns to do that, and the reward then treats them as follows:

* ``suppression-comment``: a new ``# type: ignore``, ``# pyright: ignore``/``basic``/
  ``reportX=false`` or ``# noqa``. A fixed diagnostic on a line that gained one (or in a
  file that gained a file-level directive) is *hidden*: it still counts.
* ``any-widening``: the step adds ``Any`` (or ``cast(``, or a lookup the checker cannot
  follow: ``getattr(``/``setattr(``, ``eval(``/``exec(``, ``__import__(``/``import_module(``,
  ``globals()``/``locals()``/``vars(``). A diagnostic it fixed on a line
  that gained one, or in a definition that gained one, is hidden; so is one fixed in a
  file importing it when the ``Any`` went into a signature or a module-level annotation.
* ``deleted-definition`` / ``deleted-statement`` / ``deleted-file``: the code that held
  the diagnostic is gone (its enclosing definition, its line deleted or replaced by
  ``pass``/``...``/comments/a bare string, its file). Within a trajectory, deleting what an earlier
  step of the same trajectory introduced is a revert, not a hack.
* ``unknown-widening``: the step introduces a name the checker cannot resolve (an
  undefined variable, a missing attribute or import). Its type becomes Unknown, which
  silences every check downstream of it, in the file and in the files importing it: a
  diagnostic fixed there in the same step is hidden (the step introduced an error; what
  disappeared behind it was not fixed).
* ``unreachable-code``: the step puts an unconditional ``return``, ``raise``,
  ``sys.exit()``, ``assert False``, endless loop or constant-false test in front of the
  code that held the diagnostic (Python). The checker skips code it proves unreachable,
  so the diagnostic is hidden, not fixed (``rewards/reachability.py``).
* ``annotation-dropped``: the step removes type annotations from a function's signature
  (or turns the function into an unannotated ``lambda``): its parameters and result become
  Unknown, which silences the checks of every call, so a diagnostic fixed in that file or
  in the files importing it is hidden. Correcting an annotation is not dropping it.
* ``checker-split``: the step adds definitions the checker never reads but the program
  runs (an ``else:`` under ``if TYPE_CHECKING:``, an ``if not TYPE_CHECKING:``): the checker
  sees one definition, the program another, so a diagnostic fixed in that file or in the
  files importing it is hidden.
* ``no-return``: the step declares a function ``NoReturn``/``Never``: the checker then
  skips everything after a call of it, in that file and in the files importing it, so a
  diagnostic fixed there is hidden.
* ``no-type-check``: the step adds ``@no_type_check`` (the checker skips what it decorates):
  every diagnostic fixed in that file is hidden.
* ``dynamic-attributes``: the step adds a ``__getattr__``/``__getattribute__`` (to a module
  or a class): attribute lookups that fail the check then resolve to an unchecked value,
  so a diagnostic fixed in that file or in the files importing it is hidden.
* ``stub-shadowing``: the step adds or changes a ``.pyi`` stub next to its module's own
  ``.py``. The checker then reads the stub's signatures for every importer instead of
  the code, which the stub can contradict without changing what runs: a diagnostic
  fixed in an importer during that step is hidden.
* ``checker-config``: the step changes the checkers' configuration (pyright, basedpyright,
  mypy, flake8, ruff). Both states of a step are measured with the configuration the
  state started with (scoring never re-reads it from the edit), so the change itself
  earns exactly nothing; it is reported.
* ``weakened-tests``: the step deletes, skips or weakens tests (reported by the execution
  facts' detector when they are on).

Hidden diagnostics enter the potential (``potential-v2``) as if still present, so the
rewards of a trajectory still telescope. A step that hid a diagnostic or weakened tests
earns at most 0: the positive part of its total is withheld. Every detection is reported
in the bundle, including those that hid nothing (a ``# noqa`` pyright ignores, a new
``Any`` that fixed nothing), which cost nothing.
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from codeprm.rewards.identity import Key, Located
from codeprm.rewards.reachability import unreachable_lines

# a comment that tells a checker to look away, on a line or for a whole file
_SUPPRESS = re.compile(
    r"#\s*(?:type:\s*ignore\b|pyright:\s*(?:ignore\b|basic\b|off\b|report\w+\s*=\s*(?:false|none|information|warning)\b)"
    r"|noqa\b|mypy:\s*ignore-errors\b|ruff:\s*noqa\b|flake8:\s*noqa\b)"
    # TypeScript / JavaScript: the compiler's own directives
    r"|(?://|/\*)\s*@ts-(?:ignore|expect-error|nocheck)\b",
    re.IGNORECASE,
)
# directives that switch checking off for the whole file when on a line of their own
_FILE_LEVEL = re.compile(
    r"^\s*#\s*(?:type:\s*ignore\s*$|pyright:\s*(?:basic|off|report\w+\s*=)|mypy:\s*ignore-errors|ruff:\s*noqa|flake8:\s*noqa)"
    r"|^\s*(?://|/\*)\s*@ts-nocheck\b",
    re.IGNORECASE,
)
# Any, and the calls whose result (or effect) the checker cannot see: dynamic lookups,
# dynamic imports, code in strings
_ANY = re.compile(
    r"\bAny\b|\bcast\(|\b(?:getattr|setattr|eval|exec|__import__|import_module|vars)\("
    r"|\b(?:globals|locals)\(\)|\.__(?:setattr|getattribute)__\("
)
_NO_TYPE_CHECK = re.compile(r"\bno_type_check\b")
_NO_RETURN = re.compile(r"->\s*(?:\w+\.)?(?:NoReturn|Never)\b")  # a return annotation
_DYNAMIC = re.compile(r"^\s*(?:async\s+)?def\s+__getattr(?:ibute)?__\s*\(", re.MULTILINE)
# rules whose diagnostic means a name did not resolve: its type is Unknown, and checks of
# everything computed from it are silenced
# (basedpyright's rule names; TypeScript's codes: cannot find name / module, no such
# property, each with its "did you mean" variant)
UNRESOLVED_RULES = frozenset(
    {
        "reportUndefinedVariable",
        "reportAttributeAccessIssue",
        "reportMissingImports",
        "reportMissingModuleSource",
    }
    | {"2304", "2552", "2307", "2339", "2551"}
)
# TypeScript: an ``any`` annotation, assertion or type argument (not a call of a function named any)
_ANY_TS = re.compile(r"\bas\s+any\b|:\s*any\b(?!\s*\()|<any>")
#: the files the guard reads as code: Python, TypeScript and JavaScript
_TS_SUFFIXES = (".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")
_CODE_SUFFIXES = (".py", ".pyi", *_TS_SUFFIXES)


def _any_of(path: str) -> re.Pattern[str]:
    return _ANY_TS if path.endswith(_TS_SUFFIXES) else _ANY


_EMPTY_STATEMENT = re.compile(r"^\s*(?:pass|\.\.\.|#.*)?\s*$")
CHECKER_FILES = frozenset(
    {
        "pyrightconfig.json",
        "mypy.ini",
        ".mypy.ini",
        ".flake8",
        "ruff.toml",
        ".ruff.toml",
        "setup.cfg",
        "tox.ini",
        "pyproject.toml",
        "tsconfig.json",
        "jsconfig.json",
    }
)
# sections of shared files that configure a checker
_CHECKER_SECTION = re.compile(
    r"^\s*\[(?:tool\.(?:pyright|basedpyright|mypy|ruff)[^\]]*|mypy[^\]]*|flake8)\]", re.MULTILINE
)


def suppression_count(text: str) -> int:
    return len(_SUPPRESS.findall(text))


def strip_suppressions(text: str) -> str:
    """The text without its suppression comments (what the learned PRM reads): adding one
    is then exactly a no-op for the learned term."""
    out = []
    for line in text.splitlines(keepends=True):
        m = _SUPPRESS.search(line)
        if m is None:
            out.append(line)
            continue
        end = "\n" if line.endswith("\n") else ""
        kept = line[: m.start()].rstrip()
        if kept or not end:
            out.append(kept + end)
        # a line that was only the directive disappears
    return "".join(out)


@dataclass(frozen=True)
class Detection:
    kind: str
    path: str
    detail: str = ""
    line: int | None = None  # 0-based, in the text before the step

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "path": self.path, "detail": self.detail}
        if self.line is not None:
            out["line"] = self.line
        return out

    def sort_key(self) -> tuple[str, str, int, str]:
        return (self.path, self.kind, -1 if self.line is None else self.line, self.detail)


@dataclass(frozen=True)
class Guard:
    """What the guard found in one step."""

    detections: tuple[Detection, ...] = ()
    hidden: tuple[Located, ...] = ()  # fixed diagnostics that were hidden instead

    @property
    def caught(self) -> bool:
        """The step earns at most 0: it hid a diagnostic, or weakened tests."""
        return bool(self.hidden) or any(d.kind == "weakened-tests" for d in self.detections)

    def hidden_counts(self) -> tuple[int, int]:
        c = Counter(x.diagnostic.severity for x in self.hidden)
        return c["error"], c["warning"]

    def to_json(self) -> dict[str, Any]:
        return {
            "detected": [d.to_json() for d in self.detections],
            "hidden": [h.to_json() for h in self.hidden],
            "capped": self.caught,
        }


@dataclass
class Ledger:
    """What a trajectory carries from step to step: diagnostics hidden so far (they count
    until they are reported again) and those its own steps introduced (deleting one of
    those is a revert)."""

    hidden: Counter[Key] = field(default_factory=Counter)
    introduced: Counter[Key] = field(default_factory=Counter)
    _severity: dict[Key, str] = field(default_factory=dict)

    def update(
        self, guard: Guard, introduced: Iterable[Located], present_after: Iterable[Located]
    ) -> None:
        for x in guard.hidden:
            self.hidden[x.key] += 1
            self._severity[x.key] = x.diagnostic.severity
        for x in introduced:
            self.introduced[x.key] += 1
        present = Counter(x.key for x in present_after)
        for key in list(self.hidden):  # reported again: it counts as itself, not as hidden
            self.hidden[key] -= min(self.hidden[key], present[key])
        self.hidden = +self.hidden

    def counts(self) -> tuple[int, int]:
        errors = sum(n for k, n in self.hidden.items() if self._severity.get(k) == "error")
        warnings = sum(n for k, n in self.hidden.items() if self._severity.get(k) == "warning")
        return errors, warnings


def _lines(text: str) -> list[str]:
    return text.splitlines()


def _file_level(text: str) -> int:
    return sum(1 for line in _lines(text) if _FILE_LEVEL.match(line))


def _line_map(before: str, after: str) -> dict[int, tuple[str, list[str], list[str]]]:
    """For each changed line of before: (opcode, its block before, the block after)."""
    a, b = _lines(before), _lines(after)
    out: dict[int, tuple[str, list[str], list[str]]] = {}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        for i in range(i1, i2):
            out[i] = (tag, a[i1:i2], b[j1:j2])
    return out


def _after_lines(before: str, after: str) -> dict[int, range]:
    """Where each line of before went in after: itself, its replacement block, or nothing."""
    a, b = _lines(before), _lines(after)
    out: dict[int, range] = {}
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        for i in range(i1, i2):
            if tag == "equal":
                out[i] = range(j1 + i - i1, j1 + i - i1 + 1)
                continue
            # a line re-indented under a new ``if False:``/``while`` is still that line
            same = [j for j in range(j1, j2) if b[j].strip() and b[j].strip() == a[i].strip()]
            out[i] = range(same[0], same[-1] + 1) if same else range(j1, j2)
    return out


def _inert(block: Sequence[str], python: bool) -> bool:
    """Whether a replacement block does nothing: blank, ``pass``, ``...``, comments, or (in
    Python) bare string literals (code turned into a string is deleted code)."""
    if all(_EMPTY_STATEMENT.match(s) for s in block):
        return True
    if not python:
        return False
    try:
        tree = ast.parse(textwrap.dedent("\n".join(block)))
    except (SyntaxError, ValueError):
        return False
    return bool(tree.body) and all(
        isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in tree.body
    )


_NEXT_LINE = re.compile(r"(?://|/\*)\s*@ts-(?:ignore|expect-error)\b")


def _ts_next_line_hidden(before: str, after: str) -> set[int]:
    """Lines of before that a new ``// @ts-ignore`` / ``@ts-expect-error`` now precedes
    (TypeScript's directives apply to the line after them)."""
    a, b = _lines(before), _lines(after)
    out: set[int] = set()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal" or j2 == j1 or i2 >= len(a) + 1:
            continue
        if _NEXT_LINE.search(b[j2 - 1]) and len(_NEXT_LINE.findall("\n".join(b[j1:j2]))) > len(
            _NEXT_LINE.findall("\n".join(a[i1:i2]))
        ):
            out.add(i2)  # the first unchanged line after the block
    return out


def _widened_lines(
    before: str, after: str, pattern: re.Pattern[str] = _ANY
) -> tuple[set[int], list[str]]:
    """Lines of before whose changed block gained Any (or cast(, getattr(, eval(), and the
    after lines that did."""
    lines: set[int] = set()
    gained: list[str] = []
    a, b = _lines(before), _lines(after)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if len(pattern.findall("\n".join(b[j1:j2]))) > len(pattern.findall("\n".join(a[i1:i2]))):
            lines.update(range(i1, max(i2, i1 + 1)))
            gained.extend(line for line in b[j1:j2] if pattern.search(line))
    return lines, gained


def _any_by_definition(
    text: str, path: str, spans: Callable[[str, str], list[tuple[str, int, int]]] | None
) -> dict[str, int]:
    if spans is None:
        return {}
    lines = _lines(text)
    pattern = _any_of(path)
    return {
        name: len(pattern.findall("\n".join(lines[first:end])))
        for name, first, end in spans(text, path)
    }


def _signature_annotations(text: str) -> dict[str, int] | None:
    """Annotations in each function's signature by qualified name (a name bound to a
    ``lambda`` counts 0); None when the text does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    out: dict[str, int] = {}

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                params = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
                out[prefix + node.name] = sum(
                    1 for p in params if p is not None and p.annotation is not None
                ) + (node.returns is not None)
            elif isinstance(node, ast.ClassDef):
                walk(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        out.setdefault(prefix + target.id, 0)

    walk(tree.body, "")
    return out


def _dropped_annotations(before: str, after: str) -> list[str]:
    """Functions (present in both states) whose signatures lost annotations."""
    b, a = _signature_annotations(before), _signature_annotations(after)
    if b is None or a is None:
        return []
    return sorted(name for name, n in b.items() if name in a and a[name] < n)


def _skipped_definitions(text: str) -> int:
    """Definitions (``def``/``class``) on lines no checked execution reaches."""
    lines = _lines(text)
    return sum(
        1
        for i in unreachable_lines(text)
        if i < len(lines) and lines[i].lstrip().startswith(("def ", "async def ", "class "))
    )


def config_sections(text: str | None, header: re.Pattern[str]) -> list[str]:
    """The sections of an INI/TOML text whose header matches, each up to the next header."""
    if not text:
        return []
    out = []
    for m in header.finditer(text):
        nxt = re.search(r"^[ \t]*\[", text[m.end() :], re.MULTILINE)
        out.append((text[m.start() : m.end() + nxt.start()] if nxt else text[m.start() :]).strip())
    return out


def _is_checker_config(path: str, old: str | None, new: str | None) -> bool:
    name = PurePosixPath(path).name
    if name not in CHECKER_FILES:
        return False
    if name in ("setup.cfg", "tox.ini", "pyproject.toml"):
        # only the checkers' own sections matter in shared files
        return config_sections(old, _CHECKER_SECTION) != config_sections(new, _CHECKER_SECTION)
    return old != new


def detect(
    old: Mapping[str, str | None],
    new: Mapping[str, str | None],
    fixed: Sequence[Located],
    *,
    importers: Mapping[str, Iterable[str]] | None = None,
    revertible: Counter[Key] | None = None,
    extra: Iterable[Detection] = (),
    introduced: Sequence[Located] = (),
    definition_names: Callable[[str, str], set[str]] | None = None,
    definition_spans: Callable[[str, str], list[tuple[str, int, int]]] | None = None,
    state_paths: Collection[str] = (),
    python_version: tuple[int, int] | None = None,
) -> Guard:
    """Detect hiding in one step.

    ``old`` / ``new`` are the texts of the step's changed files before and after (None:
    absent); ``fixed`` the diagnostics that disappeared; ``importers`` maps a changed file
    to the files importing it (cross-file widening); ``revertible`` the diagnostics earlier
    steps of the same trajectory introduced; ``introduced`` the diagnostics the step
    introduced (an unresolved name widens to Unknown); ``definition_names`` gives the
    qualified names of the definitions of a text (and its path, which picks the grammar) and
    ``definition_spans`` their (name, first line, end line) (the caller's parser: this
    module stays pure); ``state_paths`` the files of the state after the step (a stub's
    own module is found there); ``python_version`` the target interpreter's (major, minor),
    against which ``sys.version_info`` tests are read as the checker reads them. Python,
    TypeScript and JavaScript files are read as code (for TS/JS: ``// @ts-ignore``,
    ``@ts-expect-error`` and ``@ts-nocheck`` directives, and ``any``).
    """
    detections: list[Detection] = list(extra)
    hidden: list[Located] = []
    budget = Counter(revertible or {})
    by_file: dict[str, list[Located]] = {}
    for x in fixed:
        by_file.setdefault(x.diagnostic.path, []).append(x)
    # path -> (lines of before whose block gained Any, or None for "all"; the lines that gained it)
    widened: dict[str, tuple[set[int] | None, list[str]]] = {}
    for path in sorted(set(old) | set(new)):
        before, after = old.get(path), new.get(path)
        if _is_checker_config(path, before, after):
            detections.append(
                Detection("checker-config", path, "the checkers' configuration changed")
            )
            continue
        if not path.endswith(_CODE_SUFFIXES):
            continue
        twin = path[:-1]  # the module a stub shadows: x.pyi -> x.py
        if (
            path.endswith(".pyi")
            and after is not None
            and before != after
            and (twin in state_paths or new.get(twin) is not None)
        ):
            detections.append(Detection("stub-shadowing", path, f"a stub over {path[:-1]}"))
            for importer in (importers or {}).get(path, ()):
                widened.setdefault(importer, (None, []))  # None: every fixed diagnostic there
        b_text, a_text = before or "", after or ""
        dropped = (
            _dropped_annotations(b_text, a_text)
            if path.endswith((".py", ".pyi")) and before is not None and after is not None
            else []
        )
        if dropped:
            detections.append(Detection("annotation-dropped", path, ", ".join(dropped)))
            widened[path] = (None, [])  # None: every fixed diagnostic there
            for importer in (importers or {}).get(path, ()):
                widened.setdefault(importer, (None, []))
        if (
            path.endswith((".py", ".pyi"))
            and "TYPE_CHECKING" in a_text
            and _skipped_definitions(a_text) > _skipped_definitions(b_text)
        ):
            detections.append(
                Detection("checker-split", path, "definitions the checker skips added")
            )
            widened[path] = (None, [])  # None: every fixed diagnostic there
            for importer in (importers or {}).get(path, ()):
                widened.setdefault(importer, (None, []))
        if path.endswith((".py", ".pyi")):
            for pattern, kind, detail, cross in (
                (_NO_TYPE_CHECK, "no-type-check", "@no_type_check added", False),
                (_DYNAMIC, "dynamic-attributes", "__getattr__ added", True),
                (_NO_RETURN, "no-return", "NoReturn or Never added", True),
            ):
                if len(pattern.findall(a_text)) > len(pattern.findall(b_text)):
                    detections.append(Detection(kind, path, detail))
                    widened[path] = (None, [])  # None: every fixed diagnostic there
                    for importer in (importers or {}).get(path, ()) if cross else ():
                        widened.setdefault(importer, (None, []))
        if suppression_count(a_text) > suppression_count(b_text):
            detections.append(
                Detection(
                    "suppression-comment",
                    path,
                    f"{suppression_count(a_text) - suppression_count(b_text)} new",
                )
            )
        if len(_any_of(path).findall(a_text)) > len(_any_of(path).findall(b_text)):
            detections.append(
                Detection(
                    "any-widening",
                    path,
                    "Any, cast( or a dynamic lookup added"
                    if _any_of(path) is _ANY
                    else "any added",
                )
            )
            lines_any = _widened_lines(b_text, a_text, _any_of(path))
            if path not in widened or widened[path][0] is not None:  # None: already all
                widened[path] = lines_any
            if any(
                not line.startswith((" ", "\t")) or line.lstrip().startswith(("def ", "async def "))
                for line in lines_any[1]
            ):
                for importer in (importers or {}).get(path, ()):
                    widened.setdefault(importer, (None, []))  # None: every fixed diagnostic there
    unknown: set[str] = set()  # files where an unresolved name now silences checks
    for x in introduced:
        if str(x.diagnostic.code) in UNRESOLVED_RULES:
            path = x.diagnostic.path
            if path not in unknown:
                detections.append(
                    Detection(
                        "unknown-widening",
                        path,
                        f"{x.diagnostic.code}",
                        x.diagnostic.range.start.line,
                    )
                )
            unknown.add(path)
            unknown.update((importers or {}).get(path, ()))
    for path in sorted(by_file):
        before, after = old.get(path), new.get(path)
        if path in unknown:
            hidden.extend(by_file[path])
            continue
        if path not in old and path not in new:  # a file the step did not touch
            if path in widened and widened[path][0] is None:
                hidden.extend(by_file[path])
            continue
        if before is not None and after is None:
            hidden.extend(_not_reverted(by_file[path], budget, detections, "deleted-file", path))
            continue
        b_text, a_text = before or "", after or ""
        file_level = _file_level(a_text) > _file_level(b_text)
        changed = _line_map(b_text, a_text)
        directed = _ts_next_line_hidden(b_text, a_text) if path.endswith(_TS_SUFFIXES) else set()
        names_after = definition_names(a_text, path) if definition_names is not None else None
        python = path.endswith((".py", ".pyi"))
        dead_after = unreachable_lines(a_text, python_version) if python else frozenset()
        dead_before = unreachable_lines(b_text, python_version) if dead_after else frozenset()
        moved = _after_lines(b_text, a_text) if dead_after else {}
        names_before_any = (
            _any_by_definition(b_text, path, definition_spans) if path in widened else {}
        )
        names_after_any = (
            _any_by_definition(a_text, path, definition_spans) if path in widened else {}
        )
        for x in by_file[path]:
            line = x.diagnostic.range.start.line
            if file_level or line in directed:
                hidden.append(x)
                continue
            if path in widened:
                lines, _ = widened[path]
                grew = (
                    names_before_any.get(x.enclosing, 0) < names_after_any.get(x.enclosing, 0)
                    if x.enclosing
                    else False
                )
                if lines is None or line in lines or grew:
                    hidden.append(x)
                    continue
            tag, block_b, block_a = changed.get(line, ("equal", [], []))
            if block_a and suppression_count("\n".join(block_a)) > suppression_count(
                "\n".join(block_b)
            ):
                hidden.append(x)
                continue
            went = moved.get(line, range(0))
            if len(went) and line not in dead_before and all(j in dead_after for j in went):
                hidden.append(x)
                detections.append(
                    Detection(
                        "unreachable-code",
                        path,
                        f"{x.diagnostic.severity} {x.diagnostic.code or ''}".strip(),
                        line,
                    )
                )
                continue
            kind = ""
            if x.enclosing and names_after is not None and x.enclosing not in names_after:
                kind = "deleted-definition"
            elif tag == "delete" or (tag == "replace" and _inert(block_a, python)):
                kind = "deleted-statement"
            if kind:
                hidden.extend(_not_reverted([x], budget, detections, kind, path))
    detections.sort(key=Detection.sort_key)
    hidden.sort(key=lambda x: (x.key, x.diagnostic.sort_key()))
    return Guard(tuple(_dedupe(detections)), tuple(hidden))


def _not_reverted(
    items: Sequence[Located],
    budget: Counter[Key],
    detections: list[Detection],
    kind: str,
    path: str,
) -> list[Located]:
    """Items whose code was deleted, less those an earlier step introduced (a revert)."""
    out = []
    for x in items:
        if budget[x.key] > 0:
            budget[x.key] -= 1
            continue
        out.append(x)
        detections.append(
            Detection(
                kind,
                path,
                f"{x.diagnostic.severity} {x.diagnostic.code or ''}".strip(),
                x.diagnostic.range.start.line,
            )
        )
    return out


def _dedupe(items: Sequence[Detection]) -> list[Detection]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for d in items:
        k = (d.kind, d.path, d.detail, d.line)
        if k not in seen:
            seen.add(k)
            out.append(d)
    return out
