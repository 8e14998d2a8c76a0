"""Parse selector strings into PositionSpecs and format them back in canonical form.

Grammar (``parse_selector`` accepts it; ``format_selector`` writes its canonical form)::

    selector := cursor | range | symbol | ast | anchor
    cursor   := PATH "@L" N ":C" N                    query(v)
    range    := PATH "@R(" N "," N "->" N "," N ")"   query(v)
    symbol   := "py://" DOTTED [ "#" DOTTED ] [ ":" ROLE ] query(overload, accessor, v)
    ast      := "ast://" "[module=" MODULE "]" { "/[" ("class"|"def") "=" NAME "]" } query(v)
    anchor   := "anchor://" PATH "#" '"' SNIPPET '"'  query(ctx, v)
    query    := [ "?" KEY "=" VALUE { "&" KEY "=" VALUE } ]
    ROLE     := "def" | "sig" | "body" | "doc"          (default def)
    N        := [1-9][0-9]*        (1-based: lines, columns, overload numbers)
    DOTTED   := NAME { "." NAME }
    MODULE   := DOTTED | PATH   (a PATH when it contains '/' or ends in .ts, .tsx, .mts,
                                 .cts, .js, .jsx, .mjs or .cjs: ``spec.module_is_path``)

Conventions:

* Lines and columns are **1-based**; columns count in the ``--index-io`` unit (utf-16 by
  default, or utf-8, or codepoint) given to ``resolve``. Range ends are exclusive.
  Internally codeprm uses 0-based ``types.Position`` in utf-16.
* ``overload=i`` is 1-based: the i-th ``@overload`` signature in source order (for a name
  defined several times without ``@overload``: the i-th definition). ``accessor`` is
  ``getter`` (the default for a property), ``setter`` or ``deleter``.
* ``ctx`` (default 32, omitted from canonical form) is the anchor's context window in
  characters, see ``codeprm.selectors.relocate``.
* ``v`` is the docVersion: 8 to 64 lowercase hex digits of the sha256 of the file text the
  selector was made against; it comes last: ``?v=...`` alone, else ``&v=...``.
  Canonical query order: overload, accessor, ctx, v. Input may give keys in any order.
* Percent-escapes (``%XX``, UTF-8 bytes, uppercase hex in canonical form) may appear in
  every path, name and snippet. Canonical form escapes ``%``, ``"``, ``#``, ``?``, space
  and every non-printable character everywhere; ``@`` in paths; ``&``, ``=``, ``.``,
  ``:``, ``/``, ``[`` and ``]`` in names (an AST module path keeps ``/`` and ``.``
  literal and escapes what names escape). Literal spaces are accepted in paths and
  snippets, and literal ``#``/``?`` inside the quoted snippet, when parsing.

Errors: every malformed input raises ``SelectorSyntaxError`` with a 1-based ``column``
of the selector string and what was ``expected``; no input string raises anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

from codeprm.errors import SelectorSyntaxError
from codeprm.selectors.spec import (
    ACCESSORS,
    DEFAULT_CTX,
    MAX_CTX,
    MAX_NUMBER,
    ROLES,
    AnchorSpec,
    AstKind,
    AstPathSpec,
    AstStep,
    CursorSpec,
    PositionSpec,
    RangeSpec,
    Role,
    SymbolSpec,
    check_path,
    module_is_path,
)

MAX_SELECTOR_LENGTH = 8192
SCHEMES = ("py://", "ast://", "anchor://")
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")

_PATH_RESERVED = frozenset('%"#?@')
_NAME_RESERVED = frozenset('%"#?@&=.:/[] ')
_SNIPPET_RESERVED = frozenset('%"')


def _path_ok(c: str) -> bool:
    return c.isprintable() and c not in _PATH_RESERVED


def _name_ok(c: str) -> bool:
    return c.isprintable() and c not in _NAME_RESERVED


def _snippet_ok(c: str) -> bool:
    return c.isprintable() and c not in _SNIPPET_RESERVED


def _module_path_ok(c: str) -> bool:
    return c in "/." or _name_ok(c)


def _path_fmt_ok(c: str) -> bool:
    return c != " " and _path_ok(c)


def _snippet_fmt_ok(c: str) -> bool:
    return c not in "#? " and _snippet_ok(c)


def _escape(text: str, literal_ok: Callable[[str], bool]) -> str:
    return "".join(
        c if literal_ok(c) else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in text
    )


class _Parser:
    """Recursive descent over one selector string; ``i`` is a 0-based index into it."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def fail(self, message: str, expected: str, at: int | None = None) -> NoReturn:
        raise SelectorSyntaxError(
            message, text=self.s, column=(self.i if at is None else at) + 1, expected=expected
        )

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def at_end(self) -> bool:
        return self.i >= len(self.s)

    def eat(self, literal: str) -> None:
        if not self.s.startswith(literal, self.i):
            got = repr(self.peek()) if not self.at_end() else "end of selector"
            self.fail(f"unexpected {got}", repr(literal))
        self.i += len(literal)

    def component(self, literal_ok: Callable[[str], bool]) -> str:
        out: list[str] = []
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c == "%":
                start = self.i
                buf = bytearray()
                while s.startswith("%", self.i):
                    hx = s[self.i + 1 : self.i + 3]
                    if len(hx) < 2 or not set(hx) <= _HEX:
                        self.fail("bad percent-escape", "two hex digits after '%'")
                    buf.append(int(hx, 16))
                    self.i += 3
                try:
                    out.append(buf.decode("utf-8"))
                except UnicodeDecodeError:
                    self.fail("percent-escapes are not valid UTF-8", "UTF-8 bytes", at=start)
            elif literal_ok(c):
                out.append(c)
                self.i += 1
            else:
                break
        return "".join(out)

    def word(self) -> str:
        start = self.i
        while self.i < len(self.s) and self.s[self.i] in _LOWER:
            self.i += 1
        return self.s[start : self.i]

    def number(self, what: str) -> int:
        start = self.i
        while self.i < len(self.s) and self.s[self.i] in _DIGITS:
            self.i += 1
        digits = self.s[start : self.i]
        if not digits:
            self.fail(f"missing {what}", "a positive integer")
        if digits[0] == "0":
            self.fail(
                f"{what} must be a positive integer without leading zeros (1-based)",
                "a positive integer",
                at=start,
            )
        if len(digits) > len(str(MAX_NUMBER)):
            self.fail(f"{what} is too large", f"at most {MAX_NUMBER}", at=start)
        return int(digits)

    def path(self) -> str:
        start = self.i
        path = self.component(_path_ok)
        if not path:
            self.fail("missing path", "a workspace-relative path", at=start)
        try:
            check_path(path)
        except ValueError as err:
            self.fail(str(err), "a normalised workspace-relative path", at=start)
        return path

    def name(self, what: str) -> str:
        start = self.i
        name = self.component(_name_ok)
        if not name:
            self.fail(f"missing {what}", f"a {what}")
        if "." in name:
            self.fail(f"a {what} cannot contain '.'", f"a {what} without '.'", at=start)
        return name

    def dotted(self, what: str) -> str:
        parts = [self.name(what)]
        while self.peek() == ".":
            self.i += 1
            parts.append(self.name(what))
        return ".".join(parts)

    def module(self) -> str:
        """An AST module step: a file path (``module_is_path``), else a dotted Python name."""
        start = self.i
        value = self.component(_module_path_ok)
        if module_is_path(value):
            return value
        self.i = start
        return self.dotted("module name")

    def query(self, allowed: tuple[str, ...]) -> dict[str, str | int]:
        if self.at_end():
            return {}
        if self.peek() != "?":
            self.fail(f"unexpected {self.peek()!r}", "'?' or end of selector")
        self.i += 1
        params: dict[str, str | int] = {}
        while True:
            kstart = self.i
            key = self.word()
            if key not in allowed:
                what = f"unknown parameter {key!r}" if key else "missing parameter name"
                self.fail(what, "one of " + ", ".join(allowed), at=kstart)
            if key in params:
                self.fail(f"duplicate parameter {key!r}", "each parameter once", at=kstart)
            self.eat("=")
            vstart = self.i
            end = self.s.find("&", self.i)
            end = len(self.s) if end < 0 else end
            raw = self.s[self.i : end]
            self.i = end
            params[key] = self._value(key, raw, vstart)
            if self.at_end():
                return params
            self.i += 1  # '&'

    def _value(self, key: str, raw: str, at: int) -> str | int:
        if key == "v":
            if not 8 <= len(raw) <= 64 or not set(raw) <= _HEX:
                self.fail("bad docVersion", "8 to 64 hex digits", at=at)
            return raw.lower()
        if key == "accessor":
            if raw not in ACCESSORS:
                self.fail(f"unknown accessor {raw!r}", " or ".join(ACCESSORS), at=at)
            return raw
        low, high = (0, MAX_CTX) if key == "ctx" else (1, MAX_NUMBER)
        if (
            not raw
            or not set(raw) <= _DIGITS
            or (raw[0] == "0" and raw != "0")
            or len(raw) > len(str(high))
            or not low <= int(raw) <= high
        ):
            self.fail(f"bad {key} value {raw!r}", f"an integer in {low}..{high}", at=at)
        return int(raw)

    # -- kinds -----------------------------------------------------------------

    def parse(self) -> PositionSpec:
        s = self.s
        if not s:
            self.fail("empty selector", "a path, py://, ast:// or anchor://")
        if len(s) > MAX_SELECTOR_LENGTH:
            self.fail(
                "selector too long",
                f"at most {MAX_SELECTOR_LENGTH} characters",
                at=MAX_SELECTOR_LENGTH,
            )
        if s.startswith("py://"):
            return self.symbol()
        if s.startswith("ast://"):
            return self.ast()
        if s.startswith("anchor://"):
            return self.anchor()
        scheme_end = s.find("://")
        if scheme_end > 0 and s[:scheme_end].isascii() and s[:scheme_end].isalnum():
            self.fail(
                f"unknown scheme {s[:scheme_end]!r}", "py://, ast://, anchor:// or a path", at=0
            )
        return self.position()

    def position(self) -> PositionSpec:
        path = self.path()
        if self.s.startswith("@L", self.i):
            self.i += 2
            line = self.number("line")
            self.eat(":C")
            column = self.number("column")
            version = self.query(("v",)).get("v")
            return CursorSpec(path, line, column, _str(version))
        if self.s.startswith("@R(", self.i):
            self.i += 3
            sl = self.number("start line")
            self.eat(",")
            sc = self.number("start column")
            self.eat("->")
            end_at = self.i
            el = self.number("end line")
            self.eat(",")
            ec = self.number("end column")
            self.eat(")")
            if (el, ec) < (sl, sc):
                self.fail(
                    "range end is before its start", "an end at or after the start", at=end_at
                )
            version = self.query(("v",)).get("v")
            return RangeSpec(path, sl, sc, el, ec, _str(version))
        got = repr(self.peek()) if not self.at_end() else "end of selector"
        self.fail(f"unexpected {got} after the path", "'@L<line>:C<column>' or '@R('")

    def symbol(self) -> SymbolSpec:
        self.i = len("py://")
        module = self.dotted("module name")
        qualname = None
        if self.peek() == "#":
            self.i += 1
            qualname = self.dotted("name")
        role: Role | None = "def"
        if self.peek() == ":":
            self.i += 1
            rstart = self.i
            word = self.word()
            role = _one_of(word, ROLES)
            if role is None:
                self.fail(f"unknown role {word!r}", " | ".join(ROLES), at=rstart)
        qstart = self.i
        params = self.query(("overload", "accessor", "v"))
        overload, accessor = params.get("overload"), params.get("accessor")
        if overload is not None and accessor is not None:
            self.fail("overload and accessor cannot be combined", "one of them", at=qstart)
        if qualname is None and (overload is not None or accessor is not None):
            self.fail(
                "overload and accessor need a qualified name", "'#Name' before '?'", at=qstart
            )
        return SymbolSpec(
            module,
            qualname,
            role,
            overload if isinstance(overload, int) else None,
            _one_of(_str(accessor) or "", ACCESSORS),
            _str(params.get("v")),
        )

    def ast(self) -> AstPathSpec:
        self.i = len("ast://")
        steps: list[AstStep] = []
        while True:
            self.eat("[")
            kstart = self.i
            word = self.word()
            allowed: tuple[AstKind, ...] = ("module",) if not steps else ("class", "def")
            kind: AstKind | None = _one_of(word, allowed)
            if kind is None:
                self.fail(f"unexpected AST step kind {word!r}", " or ".join(allowed), at=kstart)
            self.eat("=")
            name = self.module() if kind == "module" else self.name(f"{kind} name")
            self.eat("]")
            steps.append(AstStep(kind, name))
            if self.peek() != "/":
                break
            self.i += 1
        version = self.query(("v",)).get("v")
        return AstPathSpec(tuple(steps), _str(version))

    def anchor(self) -> AnchorSpec:
        self.i = len("anchor://")
        path = self.path()
        self.eat("#")
        self.eat('"')
        start = self.i
        snippet = self.component(_snippet_ok)
        if not snippet:
            self.fail("empty anchor snippet", "at least one character", at=start)
        if self.peek() != '"':
            got = repr(self.peek()) if not self.at_end() else "end of selector"
            self.fail(f"unexpected {got} in the snippet (escape it)", "'\"' closing the snippet")
        self.i += 1
        params = self.query(("ctx", "v"))
        ctx = params.get("ctx", DEFAULT_CTX)
        return AnchorSpec(
            path, snippet, ctx if isinstance(ctx, int) else DEFAULT_CTX, _str(params.get("v"))
        )


_L = TypeVar("_L", bound=str)


def _one_of(value: str, choices: tuple[_L, ...]) -> _L | None:
    """``value`` as the matching member of a tuple of literals, or None."""
    for choice in choices:
        if choice == value:
            return choice
    return None


def _str(value: str | int | None) -> str | None:
    return value if isinstance(value, str) else None


def parse_selector(text: str) -> PositionSpec:
    """The PositionSpec of a selector string; ``SelectorSyntaxError`` if it is malformed."""
    if not isinstance(text, str):
        raise TypeError(f"a selector is a str, not {type(text).__name__}")
    parser = _Parser(text)
    try:
        return parser.parse()
    except ValueError as err:  # a spec invariant the parser did not check itself
        raise SelectorSyntaxError(
            str(err),
            text=text,
            column=max(1, min(parser.i, len(text))),
            expected="a valid selector",
        ) from err


def _dotted(name: str) -> str:
    return ".".join(_escape(seg, _name_ok) for seg in name.split("."))


def _ast_step_name(step: AstStep) -> str:
    if step.kind != "module":
        return _escape(step.name, _name_ok)
    if module_is_path(step.name):
        return _escape(step.name, _module_path_ok)
    return _dotted(step.name)


def _query(pairs: list[tuple[str, object]]) -> str:
    kept = [f"{k}={v}" for k, v in pairs if v is not None]
    return "?" + "&".join(kept) if kept else ""


def format_selector(spec: PositionSpec) -> str:
    """The canonical selector string of ``spec``; ``parse_selector`` inverts it."""
    if isinstance(spec, CursorSpec):
        return f"{_escape(spec.path, _path_fmt_ok)}@L{spec.line}:C{spec.column}" + _query(
            [("v", spec.version)]
        )
    if isinstance(spec, RangeSpec):
        return (
            f"{_escape(spec.path, _path_fmt_ok)}@R({spec.start_line},{spec.start_column}"
            f"->{spec.end_line},{spec.end_column})" + _query([("v", spec.version)])
        )
    if isinstance(spec, SymbolSpec):
        out = "py://" + _dotted(spec.module)
        if spec.qualname is not None:
            out += "#" + _dotted(spec.qualname)
        if spec.role != "def":
            out += ":" + spec.role
        return out + _query(
            [("overload", spec.overload), ("accessor", spec.accessor), ("v", spec.version)]
        )
    if isinstance(spec, AstPathSpec):
        steps = "/".join(f"[{s.kind}={_ast_step_name(s)}]" for s in spec.steps)
        return "ast://" + steps + _query([("v", spec.version)])
    if isinstance(spec, AnchorSpec):
        ctx = spec.ctx if spec.ctx != DEFAULT_CTX else None
        return (
            f"anchor://{_escape(spec.path, _path_fmt_ok)}#"
            f'"{_escape(spec.snippet, _snippet_fmt_ok)}"'
            + _query([("ctx", ctx), ("v", spec.version)])
        )
    raise TypeError(f"not a PositionSpec: {type(spec).__name__}")
