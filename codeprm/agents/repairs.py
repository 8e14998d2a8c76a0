"""Repair-only edits of a function: the inverses of real single-line bugs that injection lacks.

Pure: snippet text in, ``(kind, site, new snippet)`` out. ``codeprm.prm.mutate`` injects
bugs (and its kinds double as repairs); the edits here only ever repair, so they stay
out of the injected-bug distribution the PRM trains on. Each is located on the AST and
applied as a character-offset edit, so formatting and comments survive:

* ``constant``: 0/1/-1, True/False, None, "" swapped for the values written instead;
* ``off-by-one``: an extra ``+ 1``/``- 1`` dropped; ``± 1`` on an index or a compared bound;
* ``slice-bound``: a slice bound dropped, or moved to the other side (``x[i:]`` <-> ``x[:i]``);
* ``swapped``: adjacent tuple elements, the operands of ``-``, ``/``, ``%``, ``in``;
* ``condition``: a ``not`` dropped or added, an ``and``/``or`` operand dropped, a guard
  added (``x and ...``, ``x is not None and ...``) for a name the condition uses;
* ``call``: ``x`` -> ``x()`` when the file calls it so, ``x()`` -> ``x``, ``len(x)`` for a bound;
* ``argument``: an extra argument or tuple element dropped; ``min`` <-> ``max``, ``startswith`` <->
  ``endswith``...;
* ``operator-swap``: the inverses of injected operator swaps that mutate's own swaps lack;
* ``receiver``: ``self.`` added to a name the class uses as an attribute, ``a.b.c`` -> ``a.c``;
* ``missing-statement``: ``return`` before a block's last expression, ``return x`` after the
  function's last assignment, ``break``/``continue`` at the end of an ``if`` inside a loop.

The ``rank`` of an edit orders alternatives at one site (the likelier first), so that a
proposer can try every site's first choice before any site's second.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from codeprm.prm.mutate import _BIN_SWAPS, _BIN_TEXT, _op_in_gap, parse_snippet, parses

#: operator -> the operators whose injected swap produced it but that its own swaps miss
#: (``**`` -> ``*`` is injected; ``*`` -> ``**`` is not among ``*``'s swaps)
_INVERSE_BIN_SWAPS: dict[str, tuple[str, ...]] = {
    op: tuple(
        src for src, outs in _BIN_SWAPS.items() if op in outs and src not in _BIN_SWAPS.get(op, ())
    )
    for op in _BIN_TEXT.values()
}
#: functions and methods written for one another (``min``/``max``, ``startswith``/``endswith``)
_NAME_PAIRS: tuple[tuple[str, ...], ...] = (
    ("min", "max"),
    ("any", "all"),
    ("append", "extend"),
    ("startswith", "endswith"),
    ("lower", "upper"),
    ("keys", "values", "items"),
    ("find", "rfind", "index"),
    ("split", "rsplit"),
    ("strip", "rstrip", "lstrip"),
    ("pop", "popleft"),
    ("remove", "discard"),
    ("isfile", "isdir", "exists"),
    ("sort", "sorted"),
    ("floor", "ceil"),
)
_NAME_SWAPS: dict[str, tuple[str, ...]] = {
    name: tuple(o for o in group if o != name) for group in _NAME_PAIRS for name in group
}

#: constant -> what was probably meant instead, likeliest first
_CONSTANT_SWAPS: dict[str, tuple[str, ...]] = {
    "True": ("False",),
    "False": ("True",),
    "None": ("False", "0", "''"),
    "0": ("-1", "None"),
    "1": ("-1",),
    "-1": ("0", "1", "None"),
    "''": ("None",),
    '""': ("None",),
}
_NON_COMMUTATIVE = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift)
_TERMINAL = (ast.Break, ast.Continue, ast.Return, ast.Raise)


@dataclass(frozen=True, slots=True)
class Repair:
    kind: str
    start: int
    end: int
    replacement: str
    #: 0 for the likeliest alternative at its site, 1 for the next...
    rank: int = 0

    def apply(self, text: str) -> str:
        return text[: self.start] + self.replacement + text[self.end :]


class _Locator:
    """Character offsets of AST nodes in a (possibly indented) snippet."""

    def __init__(self, text: str, shift: int) -> None:
        self.text = text
        self.shift = shift
        self.starts = [0]
        for line in text.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, col: int) -> int:
        i = lineno - 1 - self.shift
        line = (
            self.text[self.starts[i] : self.starts[i + 1]]
            if i + 1 < len(self.starts)
            else self.text[self.starts[-1] :]
        )
        return self.starts[i] + len(line.encode("utf-8")[:col].decode("utf-8", "replace"))

    def span(self, node: ast.AST) -> tuple[int, int] | None:
        lineno, end_lineno = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if lineno is None or end_lineno is None or lineno <= self.shift:
            return None
        return self.offset(lineno, node.col_offset), self.offset(end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def src(self, node: ast.AST) -> str | None:
        s = self.span(node)
        return None if s is None else self.text[s[0] : s[1]]

    def line_end(self, node: ast.AST) -> int:
        """Offset just after the newline ending the node's last line."""
        i = (getattr(node, "end_lineno", 1) or 1) - self.shift
        return self.starts[i] if i < len(self.starts) else len(self.text)

    def indent(self, node: ast.AST) -> str:
        start = self.starts[node.lineno - 1 - self.shift]  # type: ignore[attr-defined]
        line = self.text[start:]
        return line[: len(line) - len(line.lstrip(" \t"))]


@dataclass(frozen=True)
class FileContext:
    """What the rest of the file says about names: attributes per receiver, what it calls."""

    receiver_attrs: Mapping[str, Sequence[str]]
    #: names the file calls with no arguments (``x()``, ``a.m()``) or defines taking none but self
    called_bare: frozenset[str]

    @classmethod
    def of(
        cls, tree: ast.AST | None, receiver_attrs: Mapping[str, Sequence[str]] | None = None
    ) -> FileContext:
        called: set[str] = set()
        receivers = {k: list(v) for k, v in (receiver_attrs or {}).items()}
        if tree is not None:
            # the methods the file's classes define are attributes of ``self`` too
            methods = {
                f.name
                for c in ast.walk(tree)
                if isinstance(c, ast.ClassDef)
                for f in c.body
                if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            }
            receivers["self"] = sorted(set(receivers.get("self", ())) | methods)
            for n in ast.walk(tree):
                if isinstance(n, ast.Call) and not n.args and not n.keywords:
                    if isinstance(n.func, ast.Name):
                        called.add(n.func.id)
                    elif isinstance(n.func, ast.Attribute):
                        called.add(n.func.attr)
                # a function or method of the file that takes no argument (but self)
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
                    a = n.args
                    params = len(a.posonlyargs) + len(a.args) - len(a.defaults)
                    if (
                        params <= 1
                        and not a.kwonlyargs
                        and not a.vararg
                        and not any(
                            isinstance(d, ast.Name) and d.id == "property" for d in n.decorator_list
                        )
                    ):
                        called.add(n.name)
        return cls(receivers, frozenset(called))


class _Finder:
    def __init__(self, text: str, tree: ast.Module, shift: int, ctx: FileContext) -> None:
        self.loc = _Locator(text, shift)
        self.text = text
        self.tree = tree
        self.ctx = ctx
        self.out: list[Repair] = []
        self.parents: dict[int, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node

    def add(self, kind: str, start: int, end: int, replacement: str, rank: int = 0) -> None:
        self.out.append(Repair(kind, start, end, replacement, rank))

    def replace(self, kind: str, node: ast.AST, replacement: str, rank: int = 0) -> None:
        s = self.loc.span(node)
        if s is not None:
            self.add(kind, s[0], s[1], replacement, rank)

    def line_at(self, at: int, line: str) -> str:
        """``line`` as a new line inserted at ``at`` (a line start, or the end of a text without a
        final newline)."""
        return line + "\n" if at == 0 or self.text[at - 1] == "\n" else "\n" + line

    # kinds -------------------------------------------------------------------------
    def constant(self, node: ast.expr) -> None:
        source = self.loc.src(node)
        if source is None:
            return
        key = source.replace(" ", "")
        for rank, new in enumerate(_CONSTANT_SWAPS.get(key, ())):
            self.replace("constant", node, new, rank)

    def plus_one(self, node: ast.BinOp) -> None:
        """``x + 1`` -> ``x`` (an extra ``+ 1``/``- 1``)."""
        if (
            isinstance(node.op, ast.Add | ast.Sub)
            and isinstance(node.right, ast.Constant)
            and node.right.value == 1
        ):
            left = self.loc.src(node.left)
            if left is not None and "\n" not in left:
                self.replace("off-by-one", node, left)

    def plus_minus(self, node: ast.expr) -> None:
        """``i`` -> ``i + 1``, ``i - 1`` (a bound or an index)."""
        s = self.loc.span(node)
        if (
            s is None
            or "\n" in self.text[s[0] : s[1]]
            or isinstance(node, ast.Constant | ast.Slice | ast.Tuple)
        ):
            return
        source = self.text[s[0] : s[1]]
        if isinstance(node, ast.BinOp | ast.BoolOp | ast.Compare | ast.IfExp | ast.Lambda):
            source = f"({source})"
        for rank, delta in enumerate((" - 1", " + 1")):
            self.add("off-by-one", s[0], s[1], source + delta, rank)

    def slice_bounds(self, node: ast.Slice) -> None:
        s = self.loc.span(node)
        if s is None or node.step is not None:
            return
        lower, upper = node.lower, node.upper
        ls, us = (self.loc.src(lower) if lower else None), (self.loc.src(upper) if upper else None)
        if lower is not None and upper is not None and ls and us:
            self.add("slice-bound", s[0], s[1], f":{us}", 0)
            self.add("slice-bound", s[0], s[1], f"{ls}:", 1)
        elif ls and upper is None:
            self.add("slice-bound", s[0], s[1], f":{ls}", 0)
            if not ls.startswith("-"):
                self.add("slice-bound", s[0], s[1], f"-{ls}:", 1)
        elif us and lower is None:
            self.add("slice-bound", s[0], s[1], f"{us}:", 0)

    def swap_pair(self, a: ast.AST, b: ast.AST) -> None:
        sa, sb = self.loc.span(a), self.loc.span(b)
        if sa is None or sb is None or sa[1] > sb[0]:
            return
        ta, tb = self.text[sa[0] : sa[1]], self.text[sb[0] : sb[1]]
        if ta != tb and "\n" not in ta + tb:
            self.add("swapped", sa[0], sb[1], tb + self.text[sa[1] : sb[0]] + ta)

    def operator(self, node: ast.BinOp | ast.AugAssign) -> None:
        left, right = (
            (node.left, node.right) if isinstance(node, ast.BinOp) else (node.target, node.value)
        )
        a, b = self.loc.span(left), self.loc.span(right)
        op = _BIN_TEXT.get(type(node.op))
        if a is None or b is None or op is None:
            return
        suffix = "=" if isinstance(node, ast.AugAssign) else ""
        found = _op_in_gap(self.text[a[1] : b[0]], op + suffix)
        if found is not None:
            for rank, new in enumerate(_INVERSE_BIN_SWAPS.get(op, ())):
                self.add("operator-swap", a[1] + found[0], a[1] + found[1], new + suffix, rank)

    def drop_items(self, items: Sequence[ast.AST]) -> None:
        """Each item of an argument list or a tuple dropped, with its comma."""
        spans = [self.loc.span(x) for x in items]
        if (
            not items
            or any(s is None for s in spans)
            or any(isinstance(a, ast.Starred) for a in items)
        ):
            return
        ordered = [s for s in spans if s is not None]
        if sorted(ordered) != ordered:  # keywords before a positional argument: not as written
            return
        for i, s in enumerate(ordered):
            if len(ordered) == 1:
                start, end = s
            elif i == 0:
                start, end = s[0], ordered[1][0]
            else:
                start, end = ordered[i - 1][1], s[1]
            if "\n" not in self.text[start:end]:
                self.add("argument", start, end, "", 1)

    def arguments(self, node: ast.Call) -> None:
        """An extra argument dropped (``f(a, b)`` -> ``f(a)``); a called name's usual twin."""
        self.drop_items([*node.args, *node.keywords])
        func = node.func
        name = (
            func.id
            if isinstance(func, ast.Name)
            else func.attr
            if isinstance(func, ast.Attribute)
            else None
        )
        s = self.loc.span(func)
        if name is None or s is None or not self.text[s[0] : s[1]].endswith(name):
            return
        for rank, other in enumerate(_NAME_SWAPS.get(name, ())):
            self.add("argument", s[1] - len(name), s[1], other, rank)

    def swaps(self, node: ast.AST) -> None:
        if isinstance(node, ast.Tuple | ast.List) and not any(
            isinstance(e, ast.Starred) for e in node.elts
        ):
            for a, b in itertools.pairwise(node.elts):
                self.swap_pair(a, b)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, _NON_COMMUTATIVE):
            self.swap_pair(node.left, node.right)
        elif (
            isinstance(node, ast.Compare)
            and len(node.ops) == 1
            and isinstance(node.ops[0], ast.In | ast.NotIn)
        ):
            self.swap_pair(node.left, node.comparators[0])

    def conditions(self, node: ast.AST) -> None:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            operand = self.loc.src(node.operand)
            if operand is not None and not isinstance(
                self.parents.get(id(node)), ast.If | ast.While | ast.IfExp | ast.Assert
            ):
                self.replace("condition", node, operand)  # tests of if/while: mutate's negation
        elif isinstance(node, ast.BoolOp):
            spans = [self.loc.span(v) for v in node.values]
            if any(s is None for s in spans):
                return
            for i, s in enumerate(spans):
                assert s is not None
                if i == 0:
                    nxt = spans[1]
                    assert nxt is not None
                    self.add("condition", s[0], nxt[0], "", 1)  # drop the first operand
                else:
                    prev = spans[i - 1]
                    assert prev is not None
                    self.add("condition", prev[1], s[1], "", 1)
                value = node.values[i]
                if not isinstance(value, ast.UnaryOp | ast.BoolOp):
                    wrapped = self.text[s[0] : s[1]]
                    if isinstance(value, ast.IfExp | ast.Lambda | ast.NamedExpr):
                        wrapped = f"({wrapped})"
                    self.add("condition", s[0], s[1], f"not {wrapped}", 2)

    def guards(self, test: ast.expr) -> None:
        """``T`` -> ``x and T``, ``x is not None and T`` for the subjects ``T`` looks into."""
        s = self.loc.span(test)
        if s is None:
            return
        source = self.text[s[0] : s[1]]
        if "\n" in source:
            return
        subjects: list[str] = []
        for n in ast.walk(test):
            inner: ast.AST | None = None
            if isinstance(n, ast.Attribute | ast.Subscript):
                inner = n.value
            elif (
                isinstance(n, ast.Call)
                and isinstance(n.func, ast.Name)
                and n.func.id == "len"
                and n.args
            ):
                inner = n.args[0]
            elif isinstance(n, ast.Compare):
                inner = n.comparators[-1]
            if isinstance(inner, ast.Name | ast.Attribute):
                text = self.loc.src(inner)
                if text and text not in subjects and text not in ("self", "cls"):
                    subjects.append(text)
        body = (
            f"({source})"
            if (isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or))
            or isinstance(test, ast.IfExp | ast.Lambda | ast.NamedExpr)
            else source
        )
        for subject in subjects[:3]:
            self.add("condition", s[0], s[1], f"{subject} and {body}", 3)
            self.add("condition", s[0], s[1], f"{subject} is not None and {body}", 4)

    def calls(self, node: ast.AST) -> None:
        parent = self.parents.get(id(node))
        if isinstance(node, ast.Call):
            if (
                not node.args
                and not node.keywords
                and isinstance(node.func, ast.Name | ast.Attribute)
            ):
                func = self.loc.src(node.func)
                if func is not None:
                    self.replace("call", node, func, 1)  # an extra call: x() -> x
            return
        if not isinstance(node, ast.Name | ast.Attribute) or not isinstance(node.ctx, ast.Load):
            return
        if (isinstance(parent, ast.Call) and parent.func is node) or isinstance(
            parent, ast.Attribute
        ):
            return  # already called, or the receiver of something
        name = node.id if isinstance(node, ast.Name) else node.attr
        source = self.loc.src(node)
        if source is None:
            return
        if name in self.ctx.called_bare:
            self.replace("call", node, f"{source}()")
        if isinstance(parent, ast.Compare) or (
            isinstance(parent, ast.Call)
            and isinstance(parent.func, ast.Name)
            and parent.func.id == "range"
        ):
            self.replace("call", node, f"len({source})", 1)

    def receivers(self, node: ast.AST, in_method: bool) -> None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and in_method:
            if node.id in self.ctx.receiver_attrs.get("self", ()) and node.id not in (
                "self",
                "cls",
            ):
                self.replace("receiver", node, f"self.{node.id}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            outer = self.loc.src(node.value.value)
            if outer is not None and node.attr in self.ctx.receiver_attrs.get(outer, ()):
                s, v = self.loc.span(node), self.loc.span(node.value)
                if s is not None and v is not None:
                    self.add("receiver", s[0], s[1], f"{outer}.{node.attr}")

    def statements(self, func: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # ``return`` before the last expression of a block
        for block in _blocks(func):
            last = block[-1]
            if isinstance(last, ast.Expr) and not isinstance(
                last.value, ast.Constant | ast.Yield | ast.YieldFrom | ast.Await
            ):
                s = self.loc.span(last)
                if s is not None:
                    self.add("missing-statement", s[0], s[0], "return ")
        # ``return x`` after the function's last statement when it assigns x
        last = func.body[-1]
        if (
            isinstance(last, ast.Assign | ast.AugAssign | ast.AnnAssign)
            and last.lineno > self.loc.shift
        ):
            targets = last.targets if isinstance(last, ast.Assign) else [last.target]
            at = self.loc.line_end(last)
            for t in targets:
                if isinstance(t, ast.Name):
                    self.add(
                        "missing-statement",
                        at,
                        at,
                        self.line_at(at, f"{self.loc.indent(last)}return {t.id}"),
                        1,
                    )
        # ``break`` / ``continue`` at the end of an ``if`` inside a loop
        for loop in _walk_own(func):
            if not isinstance(loop, ast.For | ast.AsyncFor | ast.While):
                continue
            for node in _walk_own(loop):
                if (
                    isinstance(node, ast.If)
                    and node is not loop
                    and not isinstance(node.body[-1], _TERMINAL)
                    and _in_loop_body(node, loop, self.parents)
                ):
                    last_stmt = node.body[-1]
                    if last_stmt.lineno <= self.loc.shift:
                        continue
                    at = self.loc.line_end(last_stmt)
                    indent = self.loc.indent(last_stmt)
                    self.add("missing-statement", at, at, self.line_at(at, f"{indent}break"), 2)
                    self.add("missing-statement", at, at, self.line_at(at, f"{indent}continue"), 3)

    # driver ------------------------------------------------------------------------
    def run(self) -> list[Repair]:
        funcs = [
            n for n in ast.walk(self.tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        methods = {
            id(n)
            for f in funcs
            if f.args.args and f.args.args[0].arg == "self"
            for n in ast.walk(f)
        }
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Constant) or (
                isinstance(node, ast.UnaryOp)
                and isinstance(node.op, ast.USub)
                and isinstance(node.operand, ast.Constant)
            ):
                self.constant(node)
            if isinstance(node, ast.BinOp):
                self.plus_one(node)
            if isinstance(node, ast.Subscript) and not isinstance(
                node.slice, ast.Slice | ast.Tuple | ast.Constant
            ):
                self.plus_minus(node.slice)
            if (
                isinstance(node, ast.Compare)
                and len(node.ops) == 1
                and isinstance(node.ops[0], ast.Lt | ast.LtE | ast.Gt | ast.GtE)
            ):
                self.plus_minus(node.comparators[0])
            if isinstance(node, ast.Slice):
                self.slice_bounds(node)
            self.swaps(node)
            if isinstance(node, ast.BinOp | ast.AugAssign):
                self.operator(node)
            if isinstance(node, ast.Call):
                self.arguments(node)
            elif (
                isinstance(node, ast.Tuple | ast.List)
                and isinstance(node.ctx, ast.Load)
                and len(node.elts) > 1
            ):
                self.drop_items(node.elts)
            self.conditions(node)
            if isinstance(node, ast.If | ast.While | ast.IfExp):
                self.guards(node.test)
                if isinstance(node.test, ast.BoolOp):  # a guard missing on one operand
                    for value in node.test.values:
                        if isinstance(value, ast.Compare):
                            self.guards(value)
            elif isinstance(node, ast.comprehension):
                for cond in node.ifs:
                    self.guards(cond)
            self.calls(node)
            self.receivers(node, id(node) in methods)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.statements(node)
        return self.out


def _walk_own(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` that does not enter nested functions, classes or lambdas."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        n = todo.pop()
        yield n
        if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(n))


def _blocks(func: ast.AST) -> Iterator[list[ast.stmt]]:
    yield func.body  # type: ignore[attr-defined]
    for n in _walk_own(func):
        for attr in ("body", "orelse", "finalbody"):
            block = getattr(n, attr, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                yield block


def _in_loop_body(node: ast.AST, loop: ast.AST, parents: Mapping[int, ast.AST]) -> bool:
    """The innermost loop around ``node`` is ``loop``."""
    p = parents.get(id(node))
    while p is not None and p is not loop:
        if isinstance(
            p,
            ast.For
            | ast.AsyncFor
            | ast.While
            | ast.FunctionDef
            | ast.AsyncFunctionDef
            | ast.ClassDef,
        ):
            return False
        p = parents.get(id(p))
    return p is loop


def enumerate_repairs(text: str, context: FileContext | None = None) -> list[Repair]:
    """Every repair of ``text`` (a function, possibly indented) whose result parses,
    deduplicated."""
    parsed = parse_snippet(text)
    if parsed is None:
        return []
    tree, shift = parsed
    found = _Finder(text, tree, shift, context or FileContext({}, frozenset())).run()
    seen: set[str] = set()
    out = []
    for r in sorted(found, key=lambda r: (r.start, r.rank, r.kind, r.end, r.replacement)):
        result = r.apply(text)
        if result == text or result in seen or not parses(result):
            continue
        seen.add(result)
        out.append(r)
    return out
