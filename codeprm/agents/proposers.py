"""Candidate proposers for the planning loop: mutation repairs, quick fixes, an LLM.

Each proposer turns the current state (file texts, failing-test output, diagnostics)
into whole-file candidate texts. Order matters only for the unguided baseline, which
tries candidates in proposer order; the guided loop ranks them by reward.

* ``MutationRepairs``: single-edit repairs of the suspicious functions (those in the
  failing traceback, else every function of the files): the inverses of injected bugs
  (``codeprm.prm.mutate``: comparison and operator swaps, off-by-one, wrong variable or
  attribute, swapped arguments, negated conditions, a deleted statement), repairs of
  undefined names and bare returns, and the repair-only edits of ``codeprm.agents.repairs``
  (constants, slice bounds, swapped operands, dropped or added conditions, calls,
  ``self.``, a missing ``return``/``break``/``continue``); likeliest classes first
  (``KIND_TIER``), bounded per function and per file.
* ``QuickFixes``: the language server's code actions for the files' diagnostics.
* ``LLMProposer``: an OpenAI-compatible chat endpoint the user runs; never used unless
  configured; a non-responding endpoint is an error for that proposer only.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from codeprm.analysis import structure
from codeprm.errors import CodeprmError, ServerTimeoutError, UsageError
from codeprm.selectors.position_encoding import LineTable

_FRAME = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<func>[\w<>.]+)')


@dataclass(frozen=True)
class Observation:
    """What the proposers see of a state."""

    texts: Mapping[str, str]
    paths: Sequence[str]
    test_output: str = ""
    #: path -> 0-based first lines of the functions the tests called (from the localizer)
    called: Mapping[str, Sequence[int]] = field(default_factory=dict)

    def focus(self, path: str) -> list[int]:
        """Lines to look at first: traceback frames, then every function the tests called."""
        lines = suspicious_lines(self.test_output, path)
        lines += [line for line in self.called.get(path, ()) if line not in lines]
        return lines


@dataclass(frozen=True)
class Proposal:
    id: str
    path: str
    new_text: str
    proposer: str
    detail: dict[str, Any] = field(default_factory=dict)


def suspicious_lines(output: str, path: str) -> list[int]:
    """0-based lines of ``path`` in the tracebacks of a test run, innermost first."""
    lines = []
    for m in _FRAME.finditer(output):
        frame = m.group("path").replace("\\", "/")
        if frame == path or frame.endswith("/" + path):
            lines.append(int(m.group("line")) - 1)
    out: list[int] = []
    for line in reversed(lines):
        if line not in out:
            out.append(line)
    return out


def function_spans(text: str) -> list[tuple[int, int, str]]:
    """(start offset, end offset, qualname) of every function (not class), in source order."""
    table = LineTable(text)
    return [
        (table.byte_to_offset(d.start), table.byte_to_offset(d.end), d.qualname)
        for d in structure.definitions(text)
        if d.kind == "function"
    ]


def suspicious_functions(text: str, lines: Sequence[int]) -> list[tuple[int, int, str]]:
    """Innermost functions holding the given lines (in that order); all functions when none do."""
    spans = function_spans(text)
    table = LineTable(text)
    chosen: list[tuple[int, int, str]] = []
    for line in lines:
        if line >= table.line_count:
            continue
        # the line's first non-blank character: a method's ``def`` line starts at its indent
        offset = (
            table.line_start(line)
            + len(table.line_text(line))
            - len(table.line_text(line).lstrip())
        )
        inside = [s for s in spans if s[0] <= offset < s[1]]
        if inside:
            best = min(inside, key=lambda s: s[1] - s[0])
            if best not in chosen:
                chosen.append(best)
    if chosen:
        return chosen
    # no frame in these files: every innermost function (a method, not its class)
    return [s for s in spans if not any(o != s and s[0] <= o[0] and o[1] <= s[1] for o in spans)]


def name_repairs(snippet: str, module_text: str) -> list[tuple[str, int, str]]:
    """Replace each use of an undefined name by the defined names closest to it in spelling.

    ``module_text`` is the rest of the module (without the snippet), where names may be defined.
    """
    import ast
    import difflib

    from codeprm.prm.mutate import all_names, parse_snippet, undefined_names

    missing = undefined_names(snippet, module_text)
    parsed = parse_snippet(snippet)
    if not missing or parsed is None:
        return []
    tree, shift = parsed
    module = parse_snippet(module_text)
    known = sorted((all_names(tree) | (all_names(module[0]) if module else set())) - missing)
    table = LineTable(snippet)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in missing:
            line = node.lineno - 1 - shift
            start = table.line_start(line) + len(
                table.line_text(line).encode("utf-8")[: node.col_offset].decode("utf-8", "replace")
            )
            for other in difflib.get_close_matches(node.id, known, n=3, cutoff=0.6):
                out.append(
                    (
                        "undefined-name",
                        start,
                        snippet[:start] + other + snippet[start + len(node.id) :],
                    )
                )
    return out


def return_repairs(snippet: str) -> list[tuple[str, int, str]]:
    """Give each bare ``return`` of a function a value: each of the function's local names.

    The inverse of a dropped return value, as far as it can be guessed: the value was
    very often a local variable (``return result``).
    """
    import ast

    from codeprm.prm.mutate import local_names, parse_snippet

    parsed = parse_snippet(snippet)
    if parsed is None:
        return []
    tree, shift = parsed
    table = LineTable(snippet)
    out = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        names = [n for n in local_names(func) if n not in ("self", "cls")]
        inner = {
            id(n)
            for f in ast.walk(func)
            if f is not func and isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            for n in ast.walk(f)
        }
        for node in ast.walk(func):
            if isinstance(node, ast.Return) and node.value is None and id(node) not in inner:
                line = node.lineno - 1 - shift
                if line < 0:
                    continue
                start = table.line_start(line) + len(
                    table.line_text(line)
                    .encode("utf-8")[: node.col_offset]
                    .decode("utf-8", "replace")
                )
                if not snippet.startswith("return", start):
                    continue
                end = start + len("return")
                for name in names:
                    out.append(
                        (
                            "restored-return",
                            start,
                            snippet[:start] + f"return {name}" + snippet[end:],
                        )
                    )
    return out


#: kind -> tier. A function's candidates are ordered by cost = tier + the rank of the
#: alternative at its site (0: the likeliest), then tier, then position: the likeliest
#: classes of real single-line bugs first (a budgeted loop verifies the head of the list),
#: and a kind with many alternatives per site (names) does not crowd out the rest
KIND_TIER: dict[str, int] = {
    "undefined-name": 0,
    "compare-swap": 1,
    "operator-swap": 1,
    "off-by-one": 1,
    "constant": 1,
    "negated-condition": 1,
    "wrong-attribute": 2,
    "receiver": 2,
    "call": 2,
    "argument": 2,
    "wrong-argument": 2,
    "swapped": 2,
    "restored-return": 2,
    "missing-statement": 2,
    "wrong-variable": 3,
    "condition": 3,
    "slice-bound": 3,
    "dropped-return": 4,
    "deleted-statement": 4,
}


def _site_ranks(edits: list[tuple[str, int, str]], snippet: str) -> list[int]:
    """Rank of each edit among the alternatives of its kind at its site (0: likeliest).

    A substituted name ranks by spelling similarity to the name it replaces
    (``l_bar`` -> ``l_bar_user`` before ``x``), the rest keep their order.
    """
    import difflib
    import re

    groups: dict[tuple[str, int], list[int]] = {}
    for n, (kind, site, _) in enumerate(edits):
        groups.setdefault((kind, site), []).append(n)
    ranks = [0] * len(edits)
    for (kind, site), members in groups.items():
        if kind in ("wrong-variable", "wrong-attribute") and len(members) > 1:
            m = re.match(r"\w+", snippet[site:])
            old = m.group(0) if m else ""

            def similarity(n: int, old: str = old, site: int = site) -> float:
                new = re.match(r"\w*", edits[n][2][site:])
                return -difflib.SequenceMatcher(None, old, new.group(0) if new else "").ratio()

            members = sorted(members, key=similarity)
        for rank, n in enumerate(members):
            ranks[n] = rank
    return ranks


class MutationRepairs:
    name = "mutation"

    def __init__(
        self, max_per_file: int = 400, max_functions: int = 6, max_per_function: int = 250
    ) -> None:
        self.max_per_file = max_per_file
        #: only the most suspicious functions (traceback frames, then the localizer's ranking)
        self.max_functions = max_functions
        #: so that one large function does not take the share of the functions after it
        self.max_per_function = max_per_function

    def candidates(
        self,
        snippet: str,
        rest: str,
        receivers: Mapping[str, Sequence[str]],
        pool: Sequence[str],
        context: Any,
    ) -> list[tuple[str, int, str]]:
        """(kind, site, new snippet) repairs of one function, likeliest first."""
        from codeprm.agents.repairs import enumerate_repairs
        from codeprm.prm.mutate import enumerate_mutations

        # every local name and every attribute the file uses on the same receiver as
        # substitutes, then a few attributes from the whole file
        mutations = enumerate_mutations(
            snippet, max_substitutes=None, receiver_attrs=receivers
        ) + enumerate_mutations(snippet, attr_pool=pool)
        edits = [(m.kind, m.site, m.apply(snippet)) for m in mutations]
        ranks = _site_ranks(edits, snippet)
        scored = [
            (KIND_TIER.get(kind, 3) + rank, KIND_TIER.get(kind, 3), site, n, (kind, site, new))
            for n, ((kind, site, new), rank) in enumerate(zip(edits, ranks, strict=True))
        ]
        extra = [
            (kind, site, new, 0)
            for kind, site, new in name_repairs(snippet, rest) + return_repairs(snippet)
        ]
        extra += [
            (r.kind, r.start, r.apply(snippet), r.rank) for r in enumerate_repairs(snippet, context)
        ]
        scored += [
            (
                KIND_TIER.get(kind, 3) + rank,
                KIND_TIER.get(kind, 3),
                site,
                len(edits) + n,
                (kind, site, new),
            )
            for n, (kind, site, new, rank) in enumerate(extra)
        ]
        scored.sort(key=lambda s: s[:4])
        return [s[4] for s in scored]

    def propose(self, obs: Observation) -> list[Proposal]:
        import ast

        from codeprm.agents.repairs import FileContext
        from codeprm.prm.mutate import attribute_names, receiver_attributes

        out: list[Proposal] = []
        for path in obs.paths:
            text = obs.texts[path]
            try:
                tree: ast.Module | None = ast.parse(text)
                pool, receivers = sorted(attribute_names(tree)), receiver_attributes(tree)
            except SyntaxError:
                tree, pool, receivers = None, [], {}
            context = FileContext.of(tree, receivers)
            seen: set[str] = set()
            count = 0
            functions = suspicious_functions(text, obs.focus(path))[: self.max_functions]
            for n, (start, end, qualname) in enumerate(functions):
                # the per-function bound leaves room for the next functions; the last has none to
                # leave
                limit = self.max_per_function if n < len(functions) - 1 else self.max_per_file
                snippet = text[start:end]
                in_function = 0
                for kind, site, new_snippet in self.candidates(
                    snippet, text[:start] + text[end:], receivers, pool, context
                ):
                    new_text = text[:start] + new_snippet + text[end:]
                    if new_text in seen or new_text == text:
                        continue
                    seen.add(new_text)
                    out.append(
                        Proposal(
                            f"{path}:{qualname}:{kind}:{start + site}",
                            path,
                            new_text,
                            self.name,
                            {"function": qualname, "kind": kind},
                        )
                    )
                    count += 1
                    in_function += 1
                    if count >= self.max_per_file or in_function >= limit:
                        break
                if count >= self.max_per_file:
                    break
        return out


class QuickFixes:
    """The server's code actions for the current diagnostics of the files."""

    name = "quickfix"

    def __init__(self, analyzer: Any) -> None:
        self.analyzer = analyzer

    def propose(self, obs: Observation) -> list[Proposal]:
        from codeprm.workspace import (
            ApplyOptions,
            parse_workspace_edit,
            read_texts,
            resolve_workspace_edit,
        )

        texts = obs.texts
        out: list[Proposal] = []
        session = self.analyzer.session
        for path in obs.paths:
            absolute = self.analyzer.root / path
            session.sync(absolute, texts[path])
            for diag in session.diagnostics(absolute):
                for n, action in enumerate(session.code_actions(absolute, diag.range, [diag])):
                    edit = action.get("edit")
                    if not edit or "ignore" in action.get("title", ""):
                        continue  # suppressing a diagnostic is not a repair
                    try:
                        # against the state held in memory (at beam depth 2 it is not the disk)
                        parsed = parse_workspace_edit(edit, self.analyzer.root)
                        held = {p: texts[p] for p in parsed.paths() if p in texts}
                        others = [p for p in parsed.paths() if p not in texts]
                        on_disk = (
                            read_texts(
                                self.analyzer.root, others, options=ApplyOptions(allow_dirty=True)
                            )
                            if others
                            else {}
                        )
                        change = resolve_workspace_edit(parsed, {**on_disk, **held})
                    except CodeprmError:
                        continue
                    new = change.new_texts().get(path)
                    if new is not None and new != texts[path]:
                        out.append(
                            Proposal(
                                f"{path}:quickfix:{diag.range.start.line}:{n}",
                                path,
                                new,
                                self.name,
                                {"title": action.get("title")},
                            )
                        )
        return out


class LLMProposer:
    """Whole-function rewrites from an OpenAI-compatible /v1/chat/completions endpoint."""

    name = "llm"

    def __init__(self, url: str, model: str = "default", n: int = 4, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.n = n
        self.timeout = timeout

    def _ask(self, prompt: str) -> str:
        body = json.dumps(
            {
                "model": self.model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0.8,
            }
        ).encode()
        endpoint = (
            self.url
            if self.url.endswith("/chat/completions")
            else self.url + "/v1/chat/completions"
        )
        request = urllib.request.Request(endpoint, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = json.loads(response.read())
        except TimeoutError as err:
            raise ServerTimeoutError(
                f"the LLM endpoint {endpoint} did not answer within {self.timeout:g}s"
            ) from err
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise UsageError(f"the LLM endpoint {endpoint} failed: {err}") from err
        try:
            return str(data["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError) as err:
            raise UsageError(
                f"the LLM endpoint {endpoint} answered without choices[0].message.content"
            ) from err

    def propose(self, obs: Observation) -> list[Proposal]:
        out: list[Proposal] = []
        test_output = obs.test_output
        for path in obs.paths:
            text = obs.texts[path]
            for start, end, qualname in suspicious_functions(text, obs.focus(path))[:3]:
                snippet = text[start:end]
                prompt = (
                    f"The tests fail:\n{test_output[-1500:]}\n\nThis function in {path} "
                    f"may be wrong:\n```python\n{snippet}\n```\n"
                    "Reply with the corrected function only, in one ```python block, "
                    "same indentation."
                )
                for k in range(self.n):
                    reply = self._ask(prompt)
                    m = re.search(r"```(?:python)?\n(.*?)```", reply, re.S)
                    if not m:
                        continue
                    new_text = (
                        text[:start]
                        + m.group(1).rstrip("\n")
                        + text[start + len(snippet.rstrip("\n")) :]
                    )
                    if new_text != text:
                        out.append(
                            Proposal(
                                f"{path}:{qualname}:llm:{k}",
                                path,
                                new_text,
                                self.name,
                                {"function": qualname},
                            )
                        )
        return out


def dedupe(proposals: Iterable[Proposal]) -> list[Proposal]:
    """Drop proposals of a text already proposed; give each remaining one a unique id."""
    seen: set[tuple[str, str]] = set()
    ids: dict[str, int] = {}
    out = []
    for p in proposals:
        key = (p.path, p.new_text)
        if key in seen:
            continue
        seen.add(key)
        n = ids.get(p.id, 0)
        ids[p.id] = n + 1
        out.append(p if n == 0 else replace(p, id=f"{p.id}#{n + 1}"))
    return out
