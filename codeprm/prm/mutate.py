"""Inject realistic bugs into Python source text, as minimal text edits located by the AST.

Pure: text in, text out. Mutations are found on the AST but applied as character-offset
edits to the original text, so formatting and comments survive and the inverse edit restores
the original exactly. Every produced text is checked to parse.

Kinds (``MUTATION_KINDS``): comparison swap, operator swap, off-by-one, wrong variable in
scope, wrong attribute, wrong (swapped) argument, dropped return value, negated condition,
deleted statement. ``normalised_ast`` gives the equivalence used to label repairs.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MUTATION_KINDS: tuple[str, ...] = (
    "compare-swap",
    "operator-swap",
    "off-by-one",
    "wrong-variable",
    "wrong-attribute",
    "wrong-argument",
    "dropped-return",
    "negated-condition",
    "deleted-statement",
)

_BUILTIN_NAMES = frozenset(dir(builtins))

_CMP_TEXT: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
#: comparison -> the bugs people write instead.
_CMP_SWAPS: dict[str, tuple[str, ...]] = {
    "<": ("<=", ">"),
    "<=": ("<", ">="),
    ">": (">=", "<"),
    ">=": (">", "<="),
    "==": ("!=",),
    "!=": ("==",),
    "is": ("is not",),
    "is not": ("is",),
    "in": ("not in",),
    "not in": ("in",),
}
_BIN_TEXT: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
}
_BIN_SWAPS: dict[str, tuple[str, ...]] = {
    "+": ("-",),
    "-": ("+",),
    "*": ("/", "+"),
    "/": ("//", "*"),
    "//": ("/", "%"),
    "%": ("//",),
    "**": ("*",),
    "<<": (">>",),
    ">>": ("<<",),
    "|": ("&",),
    "&": ("|",),
    "^": ("|",),
}


@dataclass(frozen=True, slots=True)
class Mutation:
    """A bug as text edits ``(start, end, replacement)`` over character offsets.

    ``site`` is the offset of the first edit: mutations at the same site are alternatives
    of one another. ``lines`` is the 0-based line span the edits touch.
    """

    kind: str
    edits: tuple[tuple[int, int, str], ...]
    lines: tuple[int, int]

    @property
    def site(self) -> int:
        return self.edits[0][0]

    def apply(self, text: str) -> str:
        for start, end, replacement in sorted(self.edits, reverse=True):
            text = text[:start] + replacement + text[end:]
        return text


class _Offsets:
    """(1-based line, utf-8 byte column) -> character offset in the text."""

    def __init__(self, text: str, line_shift: int) -> None:
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.shift = line_shift

    def __call__(self, lineno: int, col: int) -> int:
        i = lineno - 1 - self.shift
        line = self.lines[i] if i < len(self.lines) else ""
        return self.starts[i] + len(line.encode("utf-8")[:col].decode("utf-8", "replace"))

    def line_of(self, offset: int) -> int:
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo


def parse_snippet(text: str) -> tuple[ast.Module, int] | None:
    """Parse a possibly indented snippet (e.g. a method); returns (tree, lines added) or None."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    shift = 0
    source = text
    if first[:1] in (" ", "\t"):
        source = "if 1:\n" + text
        shift = 1
    try:
        return ast.parse(source), shift
    except (SyntaxError, ValueError):
        return None


def parses(text: str) -> bool:
    return parse_snippet(text) is not None


def normalised_ast(text: str) -> str | None:
    """The AST dump without positions: equal dumps mean equivalent code for labelling."""
    parsed = parse_snippet(text)
    if parsed is None:
        return None
    return ast.dump(parsed[0], annotate_fields=False, include_attributes=False)


def equivalent(a: str, b: str) -> bool:
    na = normalised_ast(a)
    return na is not None and na == normalised_ast(b)


#: At most this many substitutes per site for the open-ended kinds (names, attributes):
#: bounds the work per function without favouring the alphabetically first names.
MAX_SUBSTITUTES = 3


def _some(options: Sequence[str], key: str, limit: int | None = MAX_SUBSTITUTES) -> list[str]:
    """Up to ``limit`` of ``options`` (None: all), picked by a stable hash (no global RNG)."""
    if limit is None or len(options) <= limit:
        return list(options)
    return sorted(options, key=lambda o: hashlib.sha256(f"{key}\0{o}".encode()).digest())[:limit]


def _strip_gap(gap: str) -> str:
    return re.sub(r"[\s()\\]+", " ", gap).strip()


def _op_in_gap(gap: str, op: str) -> tuple[int, int] | None:
    """Where the operator ``op`` sits in the text between two operands, if unambiguous."""
    if "#" in gap or _strip_gap(gap) != op:
        return None
    pattern = r"\s+".join(re.escape(part) for part in op.split())
    m = re.search(pattern, gap)
    return (m.start(), m.end()) if m else None


def local_names(func: ast.AST) -> list[str]:
    """Parameters and names bound inside a function, sorted."""
    names: set[str] = set()
    for node in ast.walk(func):
        if isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return sorted(names)


def receiver_attributes(tree: ast.AST) -> dict[str, list[str]]:
    """Receiver source text (``self``, ``os.path``) -> the attribute names used on it."""
    out: dict[str, set[str]] = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute):
            out.setdefault(ast.unparse(n.value), set()).add(n.attr)
    return {k: sorted(v) for k, v in out.items()}


def attribute_names(tree: ast.AST) -> list[str]:
    return sorted({n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)})


def bound_names(tree: ast.AST) -> set[str]:
    """Names a tree binds: assignments, parameters, defs, classes, imports."""
    out = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
    }
    out |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    for n in ast.walk(tree):
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(n.name)
        elif isinstance(n, ast.alias):
            out.add((n.asname or n.name).split(".")[0])
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, ast.Global | ast.Nonlocal):
            out.update(n.names)
        elif isinstance(n, ast.MatchAs | ast.MatchStar) and n.name:
            out.add(n.name)
    return out


def all_names(tree: ast.AST) -> set[str]:
    """Every identifier a tree mentions (bound or used)."""
    return bound_names(tree) | {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


class _Finder:
    def __init__(
        self,
        text: str,
        tree: ast.Module,
        shift: int,
        attr_pool: Sequence[str],
        max_substitutes: int | None = MAX_SUBSTITUTES,
        receiver_attrs: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.text = text
        self.max_substitutes = max_substitutes
        self.receiver_attrs = receiver_attrs
        self.tree = tree
        self.off = _Offsets(text, shift)
        self.shift = shift
        self.attr_pool = sorted(set(attr_pool) | set(attribute_names(tree)))
        self.out: list[Mutation] = []

    # positions -------------------------------------------------------------
    def span(self, node: ast.AST) -> tuple[int, int] | None:
        lineno = getattr(node, "lineno", None)
        end_lineno = getattr(node, "end_lineno", None)
        if lineno is None or end_lineno is None or lineno <= self.shift:
            return None
        return (
            self.off(lineno, node.col_offset),  # type: ignore[attr-defined]
            self.off(end_lineno, node.end_col_offset),  # type: ignore[attr-defined]
        )

    def add(self, kind: str, edits: Iterable[tuple[int, int, str]]) -> None:
        edits_t = tuple(sorted(edits))
        if not edits_t:
            return
        first = self.off.line_of(edits_t[0][0])
        last = self.off.line_of(max(e[1] for e in edits_t))
        self.out.append(Mutation(kind, edits_t, (first, last)))

    # kinds -----------------------------------------------------------------
    def compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            a, b = self.span(operands[i]), self.span(operands[i + 1])
            if a is None or b is None:
                continue
            text = _CMP_TEXT[type(op)]
            found = _op_in_gap(self.text[a[1] : b[0]], text)
            if found is None:
                continue
            start, end = a[1] + found[0], a[1] + found[1]
            for new in _CMP_SWAPS[text]:
                pad_l = (
                    " " if new[0].isalpha() and not self.text[start - 1 : start].isspace() else ""
                )
                self.add("compare-swap", [(start, end, pad_l + new)])

    def binop(self, left: ast.AST, right: ast.AST, op: ast.operator, suffix: str = "") -> None:
        a, b = self.span(left), self.span(right)
        text = _BIN_TEXT.get(type(op))
        if a is None or b is None or text is None:
            return
        found = _op_in_gap(self.text[a[1] : b[0]], text + suffix)
        if found is None:
            return
        start, end = a[1] + found[0], a[1] + found[1]
        for new in _BIN_SWAPS[text]:
            self.add("operator-swap", [(start, end, new + suffix)])

    def boolop(self, node: ast.BoolOp) -> None:
        text = "and" if isinstance(node.op, ast.And) else "or"
        new = "or" if text == "and" else "and"
        for left, right in itertools.pairwise(node.values):
            a, b = self.span(left), self.span(right)
            if a is None or b is None:
                continue
            found = _op_in_gap(self.text[a[1] : b[0]], text)
            if found is not None:
                self.add("operator-swap", [(a[1] + found[0], a[1] + found[1], new)])

    def off_by_one(self, node: ast.AST) -> None:
        s = self.span(node)
        if s is None:
            return
        seg = self.text[s[0] : s[1]]
        if isinstance(node, ast.Constant):
            if type(node.value) is not int or not seg.isdigit() or node.value > 10_000:
                return
            for new in (node.value + 1, node.value - 1):
                if new >= 0:
                    self.add("off-by-one", [(s[0], s[1], str(new))])
        elif "\n" not in seg:
            for delta in (" + 1", " - 1"):
                self.add("off-by-one", [(s[1], s[1], delta)])

    def wrong_variable(self, node: ast.Name, names: Sequence[str]) -> None:
        s = self.span(node)
        if s is None or self.text[s[0] : s[1]] != node.id:
            return
        # an injected bug never turns a name into self/cls; a repair may (None: repairing)
        skip = ("self", "cls") if self.max_substitutes is not None else ()
        others = [n for n in names if n != node.id and n not in skip]
        for other in _some(others, node.id, self.max_substitutes):
            self.add("wrong-variable", [(s[0], s[1], other)])

    def wrong_attribute(self, node: ast.Attribute) -> None:
        s = self.span(node)
        if s is None or not self.text[s[0] : s[1]].endswith(node.attr):
            return
        start = s[1] - len(node.attr)
        if self.receiver_attrs is not None:
            # every attribute the file uses on the same receiver (``self.``, ``os.path.``)
            pool = self.receiver_attrs.get(ast.unparse(node.value), ())
            others = [a for a in pool if a != node.attr]
        else:
            others = [a for a in self.attr_pool if a != node.attr]
        for other in _some(others, node.attr, self.max_substitutes):
            self.add("wrong-attribute", [(start, s[1], other)])

    def wrong_argument(self, node: ast.Call) -> None:
        args = node.args
        if any(isinstance(a, ast.Starred) for a in args):
            return
        for left, right in itertools.pairwise(args):
            a, b = self.span(left), self.span(right)
            if a is None or b is None:
                continue
            ta, tb = self.text[a[0] : a[1]], self.text[b[0] : b[1]]
            if ta != tb and "\n" not in ta + tb:
                self.add("wrong-argument", [(a[0], a[1], tb), (b[0], b[1], ta)])

    def dropped_return(self, node: ast.Return, names: Sequence[str]) -> None:
        if node.value is None or (
            isinstance(node.value, ast.Constant) and node.value.value is None
        ):
            return
        s, v = self.span(node), self.span(node.value)
        if s is None or v is None or not self.text.startswith("return", s[0]):
            return
        self.add("dropped-return", [(s[0], v[1], "return")])

    def negate(self, test: ast.expr) -> None:
        s = self.span(test)
        if s is None:
            return
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            inner = self.span(test.operand)
            if inner is not None:
                self.add("negated-condition", [(s[0], inner[0], ""), (inner[1], s[1], "")])
            return
        if isinstance(test, ast.BoolOp | ast.IfExp | ast.NamedExpr | ast.Lambda):
            self.add("negated-condition", [(s[0], s[0], "not ("), (s[1], s[1], ")")])
        else:
            self.add("negated-condition", [(s[0], s[0], "not ")])

    def delete_statements(self, body: Sequence[ast.stmt]) -> None:
        if len(body) < 2:
            return
        for stmt in body:
            if not isinstance(stmt, ast.Expr | ast.Assign | ast.AugAssign | ast.AnnAssign):
                continue
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # a docstring or bare constant: deleting it is no bug
            if isinstance(stmt, ast.AnnAssign) and stmt.value is None:
                continue
            s = self.span(stmt)
            if s is None:
                continue
            first, last = self.off.line_of(s[0]), self.off.line_of(max(s[1] - 1, s[0]))
            line_start = self.off.starts[first]
            line_end = self.off.starts[last + 1]
            head = self.text[line_start : s[0]]
            tail = self.text[s[1] : line_end]
            if head.strip() or (tail.strip() and not tail.strip().startswith("#")):
                continue
            self.add("deleted-statement", [(line_start, line_end, "")])

    # driver ----------------------------------------------------------------
    def run(self) -> list[Mutation]:
        funcs = [
            n for n in ast.walk(self.tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        scope_names = {id(f): local_names(f) for f in funcs}
        # map every node to the names of its innermost enclosing function
        owner: dict[int, list[str]] = {}
        for f in funcs:
            for n in ast.walk(f):
                owner[id(n)] = scope_names[id(f)]
        for node in ast.walk(self.tree):
            names = owner.get(id(node), [])
            if isinstance(node, ast.Compare):
                self.compare(node)
            elif isinstance(node, ast.BinOp):
                self.binop(node.left, node.right, node.op)
            elif isinstance(node, ast.AugAssign):
                self.binop(node.target, node.value, node.op, suffix="=")
            elif isinstance(node, ast.BoolOp):
                self.boolop(node)
            elif isinstance(node, ast.Constant):
                self.off_by_one(node)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                if node.id in names:
                    self.wrong_variable(node, names)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                self.wrong_attribute(node)
            elif isinstance(node, ast.Return):
                self.dropped_return(node, names)
            if isinstance(node, ast.Call):
                self.wrong_argument(node)
                if isinstance(node.func, ast.Name) and node.func.id == "range" and node.args:
                    arg = node.args[-1] if len(node.args) <= 2 else node.args[1]
                    if isinstance(arg, ast.Name | ast.Call | ast.Attribute):
                        self.off_by_one(arg)
            if isinstance(node, ast.Slice):
                for bound in (node.lower, node.upper):
                    if isinstance(bound, ast.Name | ast.Call | ast.Attribute):
                        self.off_by_one(bound)
            if isinstance(node, ast.If | ast.While | ast.IfExp | ast.Assert):
                self.negate(node.test)
            for attr in ("body", "orelse", "finalbody"):
                body = getattr(node, attr, None)
                if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                    self.delete_statements(body)
        return self.out


#: kinds whose edits replace one identifier by another: the result parses if the text did
_NAME_FOR_NAME = frozenset({"wrong-variable", "wrong-attribute"})


def enumerate_mutations(
    text: str,
    *,
    attr_pool: Sequence[str] = (),
    max_substitutes: int | None = MAX_SUBSTITUTES,
    receiver_attrs: Mapping[str, Sequence[str]] | None = None,
) -> list[Mutation]:
    """Every mutation of ``text`` whose result parses, in a deterministic order.

    ``attr_pool`` adds attribute names (e.g. those used elsewhere in the file) that a
    wrong-attribute bug may substitute; ``max_substitutes`` bounds the names tried per
    variable or attribute use (None: every one, ``self`` and ``cls`` included, as a
    repair proposer wants). With ``receiver_attrs`` (``receiver_attributes`` of the file) a
    wrong attribute is replaced only by attributes used on the same receiver.
    """
    parsed = parse_snippet(text)
    if parsed is None:
        return []
    tree, shift = parsed
    found = _Finder(text, tree, shift, attr_pool, max_substitutes, receiver_attrs).run()
    seen: set[str] = set()
    out = []
    for m in sorted(found, key=lambda m: (m.edits, m.kind)):
        result = m.apply(text)
        # a name for a name always parses: skipping the check makes the unbounded
        # substitutions a repair proposer asks for ten times cheaper
        if (
            result == text
            or result in seen
            or (m.kind not in _NAME_FOR_NAME and not parses(result))
        ):
            continue
        seen.add(result)
        out.append(m)
    return out


def break_a_name(text: str, rng_choice: int) -> str | None:
    """Misspell one use of a local name so that it no longer resolves (a broken-name edit).

    ``rng_choice`` picks the use deterministically; None when there is no suitable use.
    """
    parsed = parse_snippet(text)
    if parsed is None:
        return None
    tree, shift = parsed
    off = _Offsets(text, shift)
    defined = all_names(tree) | _BUILTIN_NAMES
    uses = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Name)
        and isinstance(n.ctx, ast.Load)
        and len(n.id) >= 3
        and n.lineno > shift
    ]
    uses.sort(key=lambda n: (n.lineno, n.col_offset))
    if not uses:
        return None
    node = uses[rng_choice % len(uses)]
    start = off(node.lineno, node.col_offset)
    end = off(node.end_lineno or node.lineno, node.end_col_offset or 0)
    if text[start:end] != node.id:
        return None
    name = node.id
    for typo in (name[:-1], name[0] + name[2:] if len(name) > 3 else name + "s", name + "_"):
        if typo and typo not in defined and typo.isidentifier():
            out = text[:start] + typo + text[end:]
            return out if parses(out) else None
    return None


def undefined_names(text: str, context: str = "") -> set[str]:
    """Names loaded in ``text`` that nothing in ``text``, ``context`` or builtins defines.

    A cheap stand-in for the language server's "undefined name" diagnostic.
    """
    parsed = parse_snippet(text)
    if parsed is None:
        return set()
    tree, _ = parsed
    defined = bound_names(tree) | _BUILTIN_NAMES | {"__class__", "__name__", "__file__"}
    ctx = parse_snippet(context) if context else None
    if ctx is not None:
        defined |= all_names(ctx[0])
    loaded = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    return loaded - defined
