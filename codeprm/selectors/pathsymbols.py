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

AST-path selectors whose module is a path (``ast://[module=src/api/client.ts]/[class=Client]/
[def=fetch]``, see ``spec.module_is_path``) resolve here too (``resolve_ast_path``): the
same outline, with each step's kind checked (``class`` for classes, interfaces, enums and
namespaces, ``def`` for functions and methods), the same docVersion rule.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from urllib.parse import unquote

from codeprm.errors import NotFoundError, SelectorSyntaxError, UsageError, VersionSkewError
from codeprm.selectors.grammar import MAX_SELECTOR_LENGTH
from codeprm.selectors.index import WorkspaceIndex
from codeprm.selectors.outline import Outline
from codeprm.selectors.position_encoding import LineTable
from codeprm.selectors.result import Resolution, VersionCheck
from codeprm.selectors.scoring import exact
from codeprm.selectors.spec import AstPathSpec
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


def _current_file(text: str, index: WorkspaceIndex, path: str, version: str | None) -> str:
    """The current text of ``path``; NotFoundError / VersionSkewError as the module doc says."""
    f = index.file(path)
    if f is None:
        raise NotFoundError(f"{text}: no such file {path} in the workspace")
    sha = hashlib.sha256(f.text.encode("utf-8", "surrogatepass")).hexdigest()
    if version is not None and not sha.startswith(version):
        raise VersionSkewError(
            f"{text}: docVersion {version} is not the current text of {path} ({sha[:12]})"
        )
    return f.text


def _outline(text: str, path: str, data: bytes) -> Outline:
    from codeprm.analysis.structure import grammar_of
    from codeprm.selectors.outline import new_parser, outline_of
    from codeprm.selectors.tsoutline import outline_of_ts

    grammar = grammar_of(path)
    if grammar == "python":
        return outline_of(data, new_parser())
    if grammar == "none":
        raise UsageError(f"{text}: {path} has no outline (no tree-sitter grammar for its language)")
    return outline_of_ts(data, path)


def _ranger(source: str) -> tuple[bytes, Callable[[int, int], Range]]:
    table = LineTable(source)

    def rng(a: int, b: int) -> Range:
        return Range(table.byte_to_position(a, "utf-16"), table.byte_to_position(b, "utf-16"))

    return source.encode("utf-8", "surrogatepass"), rng


def resolve_path_symbol(text: str, index: WorkspaceIndex) -> Resolution:
    """Resolve ``ts://PATH#Qual.name[:role]`` against the index's current text of PATH."""
    path, name, role, version = parse(text)
    data, rng = _ranger(_current_file(text, index, path, version))
    if name is None:
        whole = rng(0, len(data))
        return Resolution(text, "symbol", path, whole, 1.0, None, (exact(path, whole, None, text),))
    outline = _outline(text, path, data)
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


def resolve_ast_path(spec: AstPathSpec, index: WorkspaceIndex, selector: str) -> Resolution:
    """Resolve an AST path whose module is a file path (``spec.module_is_path``).

    Each step must match the kind of its definition (``class``: class, interface, enum,
    namespace; ``def``: function, method); the first such definition in source order wins.
    """
    path, name = spec.module, spec.qualname
    data, rng = _ranger(_current_file(selector, index, path, spec.version))
    check: VersionCheck = "current" if spec.version else "none"
    if name is None:
        whole = rng(0, len(data))
        return Resolution(
            selector,
            "ast",
            path,
            whole,
            1.0,
            None,
            (exact(path, whole, None, selector),),
            version_check=check,
        )
    kinds = tuple("class" if s.kind == "class" else "function" for s in spec.steps[1:])
    outline = _outline(selector, path, data)
    found = [d for d in outline.definitions if d.qualname == name and d.kinds == kinds]
    if not found:
        near = [
            "/".join(
                f"[{'class' if k == 'class' else 'def'}={n}]"
                for k, n in zip(d.kinds, d.qualname.split("."), strict=True)
            )
            for d in outline.definitions
            if d.qualname == name or d.name == name.rsplit(".", 1)[-1]
        ]
        hint = f" (did you mean {', '.join(sorted(near)[:3])}?)" if near else ""
        raise NotFoundError(f"{selector}: no definition {name} of that kind in {path}{hint}")
    out = rng(*found[0].span)
    symbol_id = f"{path}#{name}"
    return Resolution(
        selector,
        "ast",
        path,
        out,
        1.0,
        symbol_id,
        (exact(path, out, symbol_id, selector),),
        version_check=check,
    )
