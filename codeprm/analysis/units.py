"""The units a Python file is cut into for the learned potential, and what a step changed. Pure.

The learned potential of a state is a sum over units: V(state) = sum_u v(u), where a unit
is a function or method (decorators included, nested functions inside it) or a paragraph
of the code between them (imports, module constants, class headers), and v depends only
on the unit's text, its file and the enclosing class line: never on the rest of the state.
So a step that changes nothing has the same units (V difference exactly 0), a step only
needs the units it changed, and the differences of consecutive states telescope.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from codeprm.analysis import structure
from codeprm.selectors.position_encoding import LineTable


@dataclass(frozen=True)
class Unit:
    name: str  # qualified name of the function, or "<code>" between definitions
    text: str
    context: str  # what the model is conditioned on: a function of the unit alone

    @property
    def ident(self) -> tuple[str, str]:
        return (self.context, self.text)


def _function_spans(text: str, path: str | None = None) -> list[tuple[int, int, str, str]]:
    """(first line, end line exclusive, qualname, enclosing class header line) of the
    outermost functions (top level or in classes)."""
    table = LineTable(text)
    lines = text.splitlines(keepends=True)
    defs = structure.definitions(text, path)
    out: list[tuple[int, int, str, str]] = []
    spans = []
    for d in defs:
        first = table.byte_to_position(d.start, "utf-16").line
        last = table.byte_to_position(max(d.start, d.end - 1), "utf-16").line
        spans.append((first, last + 1, d))
    for first, end, d in spans:
        if d.kind != "function":
            continue
        # outermost: no enclosing function
        if any(
            f2 <= first and end <= e2 and d2.kind == "function" and (f2, e2) != (first, end)
            for f2, e2, d2 in spans
        ):
            continue
        header = ""
        classes = [
            (f2, e2) for f2, e2, d2 in spans if d2.kind == "class" and f2 < first and end <= e2
        ]
        if classes:
            f2, _ = max(classes)
            header = lines[f2] if f2 < len(lines) else ""
        out.append((first, end, d.qualname, header))
    out.sort()
    return out


def units(path: str, text: str) -> list[Unit]:
    """The units of one file, in source order; their texts concatenate to the file."""
    lines = text.splitlines(keepends=True)
    base = (
        f"// file: {path}\n"
        if structure.grammar_of(path) in ("typescript", "tsx", "javascript")
        else f"# file: {path}\n"
    )
    out: list[Unit] = []

    def code(lo: int, hi: int) -> None:
        # paragraphs of the code between functions: split where a blank line is followed
        # by a line at column 0, so one changed import does not re-read a long module body
        start = lo
        for i in range(lo + 1, hi):
            if lines[i - 1].strip() == "" and lines[i][:1] not in (" ", "\t", "\n", "\r", ""):
                out.append(Unit("<code>", "".join(lines[start:i]), base))
                start = i
        if start < hi:
            out.append(Unit("<code>", "".join(lines[start:hi]), base))

    cursor = 0
    for first, end, name, header in _function_spans(text, path):
        if first < cursor:
            continue
        code(cursor, first)
        out.append(Unit(name, "".join(lines[first:end]), base + header))
        cursor = end
    code(cursor, len(lines))
    return [u for u in out if u.text]


@dataclass(frozen=True)
class UnitChange:
    """One unit pair a step changed: before "" when it is new, after "" when it is gone."""

    path: str
    name: str
    before: str
    after: str
    context: str

    def to_json(self) -> dict[str, str]:
        return {
            "path": self.path,
            "unit": self.name,
            "before": self.before,
            "after": self.after,
            "context": self.context,
        }


def has_units(path: str) -> bool:
    """Whether the learned potential reads this file: Python, TypeScript and JavaScript."""
    return path.endswith((".py", ".pyi")) or structure.grammar_of(path) in (
        "typescript",
        "tsx",
        "javascript",
    )


def changed_units(
    before: Mapping[str, str],
    after: Mapping[str, str],
    paths: Iterable[str],
    *,
    transform: object = None,
) -> list[UnitChange]:
    """The units that differ between two states in the given Python files, paired.

    Units present in both states (same context and text) cancel and are left out. The
    rest are paired by qualified name (then in order), and unpaired ones against "" : the
    pairing only affects what is computed together, never the sum.
    ``transform`` (a str -> str function) is applied to every text first (the guard
    strips suppression comments there).
    """
    out: list[UnitChange] = []
    for path in sorted(set(paths)):
        if not has_units(path):
            continue
        b_text, a_text = before.get(path, ""), after.get(path, "")
        if callable(transform):
            b_text, a_text = transform(b_text), transform(a_text)
        if b_text == a_text:
            continue
        ub, ua = units(path, b_text), units(path, a_text)
        common = Counter(u.ident for u in ub) & Counter(u.ident for u in ua)
        left, right = Counter(common), Counter(common)
        rest_b, rest_a = [], []
        for u in ub:
            if left[u.ident] > 0:
                left[u.ident] -= 1
            else:
                rest_b.append(u)
        for u in ua:
            if right[u.ident] > 0:
                right[u.ident] -= 1
            else:
                rest_a.append(u)
        pairs: list[tuple[Unit | None, Unit | None]] = []
        for u in list(rest_b):
            match = next((v for v in rest_a if v.name == u.name and v.context == u.context), None)
            if match is None:
                match = next((v for v in rest_a if v.name == u.name), None)
            if match is not None and u.name != "<code>":
                rest_a.remove(match)
                rest_b.remove(u)
                pairs.append((u, match))
        code_b = [u for u in rest_b if u.name == "<code>"]
        code_a = [u for u in rest_a if u.name == "<code>"]
        for u, v in zip(code_b, code_a, strict=False):  # code paragraphs in order
            pairs.append((u, v))
            rest_b.remove(u)
            rest_a.remove(v)
        pairs += [(u, None) for u in rest_b] + [(None, v) for v in rest_a]
        for u, v in pairs:
            if u is not None and v is not None and u.context != v.context:
                # a different context is a different unit: one leaves, one arrives
                out.append(UnitChange(path, u.name, u.text, "", u.context))
                out.append(UnitChange(path, v.name, "", v.text, v.context))
                continue
            ref = u if u is not None else v
            assert ref is not None
            out.append(
                UnitChange(path, ref.name, u.text if u else "", v.text if v else "", ref.context)
            )
    return out
