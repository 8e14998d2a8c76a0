"""Symbol selectors for modules named by path: ``ts://src/api/client.ts#Client.fetch``.

Grammar (beside ``py://``, which names Python modules by dotted name)::

    pathsymbol := ("ts://" | "js://") PATH [ "#" DOTTED ] [ ":" ROLE ] [ "?v=" HEX ]

PATH is workspace-relative (percent-escapes allowed); DOTTED the qualified name of a
definition in the file's tree-sitter outline (``tsoutline``: classes, interfaces, enums,
namespaces, functions, methods and functions bound to a ``const``); ROLE ``def`` (the
whole definition, ``export`` included; the default), ``sig`` (up to the body) or ``body``.
A name defined more than once (overload signatures) resolves to the first. Without a name
the selector is the whole file. ``v`` must be the sha256 prefix of the current text: an
older text is not relocated (``VersionSkewError``). Pure: reads only the index.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import unquote

from codeprm.errors import NotFoundError, SelectorSyntaxError, UsageError, VersionSkewError
from codeprm.selectors.grammar import MAX_SELECTOR_LENGTH
from codeprm.selectors.index import WorkspaceIndex
from codeprm.selectors.position_encoding import LineTable
from codeprm.selectors.result import Resolution
from codeprm.selectors.scoring import exact
from codeprm.types import Range

SCHEMES = ("ts://", "js://")
_FORM = re.compile(
    r"^(?P<scheme>ts|js)://(?P<path>[^#:?]+)(?:#(?P<name>[^:?]+))?(?::(?P<role>def|sig|body))?(?:\?v=(?P<v>[0-9a-f]{8,64}))?$"
)


def is_path_symbol(text: str) -> bool:
    return text.startswith(SCHEMES)


def parse(text: str) -> tuple[str, str | None, str, str | None]:
    """(path, qualified name or None, role, version or None) of a path-symbol selector."""
    m = _FORM.match(text) if len(text) <= MAX_SELECTOR_LENGTH else None
    if m is None:
        raise SelectorSyntaxError(
            "not a path symbol selector",
            text=text,
            column=1,
            expected="ts://PATH#Qual.name[:def|sig|body][?v=HEX]",
        )
    try:
        path = unquote(m["path"], errors="strict")
        name = unquote(m["name"], errors="strict") if m["name"] else None
    except UnicodeDecodeError as err:
        raise SelectorSyntaxError(
            "a percent-escape that is not UTF-8",
            text=text,
            column=1,
            expected="UTF-8 percent-escapes",
        ) from err
    if path.startswith("/") or ".." in path.split("/"):
        raise UsageError(f"{text}: the path must be workspace-relative")
    if any(ord(c) < 32 or c == "\x7f" for c in path):
        raise SelectorSyntaxError(
            "a control character in the path",
            text=text,
            column=1,
            expected="a workspace-relative path",
        )
    return path, name, m["role"] or "def", m["v"]


def resolve_path_symbol(text: str, index: WorkspaceIndex) -> Resolution:
    """Resolve ``ts://PATH#Qual.name[:role]`` against the index's current text of PATH."""
    from codeprm.analysis.structure import grammar_of
    from codeprm.selectors.outline import new_parser, outline_of
    from codeprm.selectors.tsoutline import outline_of_ts

    path, name, role, version = parse(text)
    f = index.file(path)
    if f is None:
        raise NotFoundError(f"{text}: no such file {path} in the workspace")
    sha = hashlib.sha256(f.text.encode("utf-8", "surrogatepass")).hexdigest()
    if version is not None and not sha.startswith(version):
        raise VersionSkewError(
            f"{text}: docVersion {version} is not the current text of {path} ({sha[:12]})"
        )
    table = LineTable(f.text)
    data = f.text.encode("utf-8", "surrogatepass")

    def rng(a: int, b: int) -> Range:
        return Range(table.byte_to_position(a, "utf-16"), table.byte_to_position(b, "utf-16"))

    if name is None:
        whole = rng(0, len(data))
        return Resolution(text, "symbol", path, whole, 1.0, None, (exact(path, whole, None, text),))
    grammar = grammar_of(path)
    if grammar == "python":
        outline = outline_of(data, new_parser())
    elif grammar == "none":
        raise UsageError(f"{text}: {path} has no outline (no tree-sitter grammar for its language)")
    else:
        outline = outline_of_ts(data, path)
    found = [d for d in outline.definitions if d.qualname == name]
    if not found:
        near = sorted(d.qualname for d in outline.definitions if d.name == name.rsplit(".", 1)[-1])
        hint = f" (did you mean {', '.join(near[:3])}?)" if near else ""
        raise NotFoundError(f"{text}: no definition {name} in {path}{hint}")
    d = found[0]
    span = {"def": d.span, "sig": d.sig, "body": d.body}[role]
    out = rng(*span)
    symbol_id = f"{path}#{name}"
    return Resolution(
        text,
        "symbol",
        path,
        out,
        1.0,
        symbol_id,
        (exact(path, out, symbol_id, text),),
        version_check="current" if version else "none",
    )
