"""Code that can never run, read from a Python text's syntax alone. Pure.

basedpyright does not check code it proves unreachable, so a step that puts ``return``,
``raise``, ``sys.exit()``, ``assert False``, an endless loop or an ``if False:`` in front
of an error makes the error disappear without fixing it. The guard uses these lines to
call that hiding (``unreachable-code``).

The analysis is deliberately conservative: it claims a line unreachable only when no
path reaches it whatever the values (a statement after one that always leaves the block,
the body of a constant-false test, what follows an endless loop without ``break``).
``with`` blocks are never called terminating (a context manager may swallow the
exception), nor are ``try`` statements unless every way out terminates. A
``sys.version_info`` test is read against the target interpreter's version when the
caller gives it (the checker reads it against the same one, and bundles record it), and
not read otherwise; ``sys.platform`` tests are not read.
"""

from __future__ import annotations

import ast

# calls that never return
_EXITS = frozenset(
    {
        "sys.exit",
        "exit",
        "quit",
        "os._exit",
        "os.abort",
        "assert_never",
        "typing.assert_never",
        "typing_extensions.assert_never",
    }
)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


_COMPARE = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}


def _version_test(test: ast.Compare, version: tuple[int, int]) -> bool | None:
    """``sys.version_info <op> (3, 8)`` / ``sys.version_info[0] <op> 3`` for the version."""
    if len(test.ops) != 1 or type(test.ops[0]) not in _COMPARE:
        return None
    left, right = test.left, test.comparators[0]
    ours: tuple[int, ...] | int
    if _dotted(left) == "sys.version_info" and isinstance(right, ast.Tuple):
        values = [e.value for e in right.elts if isinstance(e, ast.Constant)]
        if not values or len(values) != len(right.elts) or len(values) > 2:
            return None
        if not all(type(v) is int for v in values):
            return None
        ours, theirs = version[: len(values)], tuple(values)
    elif (
        isinstance(left, ast.Subscript)
        and _dotted(left.value) == "sys.version_info"
        and isinstance(left.slice, ast.Constant)
        and left.slice.value in (0, 1)
        and isinstance(right, ast.Constant)
        and type(right.value) is int
    ):
        ours, theirs = version[left.slice.value], right.value
    else:
        return None
    return bool(_COMPARE[type(test.ops[0])](ours, theirs))


def _truth(test: ast.expr, version: tuple[int, int] | None = None) -> bool | None:
    """The constant truth of a condition, or None when it depends on values."""
    if isinstance(test, ast.Constant):
        return bool(test.value)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _truth(test.operand, version)
        return None if inner is None else not inner
    if version is not None and isinstance(test, ast.Compare):
        return _version_test(test, version)
    if _dotted(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
        return True  # the checker reads TYPE_CHECKING as true
    return None


def _breaks(body: list[ast.stmt]) -> bool:
    """Whether a ``break`` of this loop (not of a nested loop) occurs in ``body``."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Break):
            return True
        if isinstance(
            node, (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef, ast.AsyncFunctionDef)
        ):
            if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
                stack.extend(node.orelse)  # a loop's else belongs to the enclosing loop
            continue
        if isinstance(node, (ast.ClassDef, ast.Lambda)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


class _Walker:
    def __init__(self, version: tuple[int, int] | None = None) -> None:
        self.lines: set[int] = set()
        self.version = version

    def dead(self, stmts: list[ast.stmt]) -> None:
        for s in stmts:
            self.lines.update(range(s.lineno - 1, (s.end_lineno or s.lineno)))

    def block(self, stmts: list[ast.stmt]) -> bool:
        """Walk a block; True when control never leaves it at its end."""
        for i, s in enumerate(stmts):
            if self.stmt(s):
                self.dead(stmts[i + 1 :])
                return True
        return False

    def stmt(self, s: ast.stmt) -> bool:
        """Walk one statement; True when control never continues after it."""
        if isinstance(s, (ast.Return, ast.Raise, ast.Continue, ast.Break)):
            return True
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call):
            return _dotted(s.value.func) in _EXITS
        if isinstance(s, ast.Assert):
            return _truth(s.test, self.version) is False
        if isinstance(s, ast.If):
            truth = _truth(s.test, self.version)
            if truth is False:
                self.dead(s.body)
                return self.block(s.orelse)
            if truth is True:
                self.dead(s.orelse)
                return self.block(s.body)
            body, orelse = self.block(s.body), self.block(s.orelse)
            return body and orelse and bool(s.orelse)
        if isinstance(s, ast.While):
            truth = _truth(s.test, self.version)
            if truth is False:
                self.dead(s.body)
                return self.block(s.orelse)
            self.block(s.body)
            if truth is True and not _breaks(s.body):
                self.dead(s.orelse)
                return True
            self.block(s.orelse)
            return False
        if isinstance(s, (ast.For, ast.AsyncFor)):
            self.block(s.body)
            self.block(s.orelse)
            return False
        if isinstance(s, (ast.With, ast.AsyncWith)):
            self.block(s.body)
            return False  # the context manager may swallow what the body raises
        if isinstance(s, (ast.Try, ast.TryStar)):
            body = self.block(s.body)
            orelse = self.block(s.orelse)
            handlers = [self.block(h.body) for h in s.handlers]
            final = self.block(s.finalbody)
            return final or (bool(s.handlers) and all(handlers) and (body or orelse))
        if isinstance(s, ast.Match):
            for case in s.cases:
                self.block(case.body)
            return False
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.block(s.body)  # a scope of its own: its returns do not end the outer block
            return False
        return False


def unreachable_lines(text: str, version: tuple[int, int] | None = None) -> frozenset[int]:
    """0-based lines of ``text`` that hold only code no execution reaches; empty when the
    text does not parse (a half-finished edit: no claim)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return frozenset()
    walker = _Walker(version)
    walker.block(tree.body)
    return frozenset(walker.lines)
