"""Stable symbol ids: a hash of an element's structure, not of where it sits in its file.

``symbolId = "py:" + sha256(module, qualified name, kind, signature shape, role tag)[:24]``.
The signature shape (``outline.signature_shape``) keeps parameter names, kinds and
annotations but drops default values, whitespace, comments and the body, so an id
survives edits elsewhere in the file, reformatting, and moving the element within its
module; renaming it, moving it to another module or changing its parameters changes it.
Definitions that would still collide (redefinitions with the same shape) get an ordinal
in source order. Pure: no IO, no tree-sitter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

ID_PREFIX = "py:"
ID_HEX_LENGTH = 24


def symbol_id(
    module: str, qualname: str, kind: str, shape: str, role: str = "", ordinal: int = 0
) -> str:
    """The id of one element; ``role`` tells overload signatures and property accessors apart."""
    fields = [module, qualname, kind, shape, role]
    if ordinal:
        fields.append(str(ordinal))
    payload = "\x1f".join(fields).encode("utf-8", "surrogatepass")
    return ID_PREFIX + hashlib.sha256(payload).hexdigest()[:ID_HEX_LENGTH]


def module_symbol_id(module: str) -> str:
    """The id of a whole module."""
    return symbol_id(module, "", "module", "")


def assign_symbol_ids(
    module: str, elements: Iterable[tuple[str, str, str, str]]
) -> tuple[str, ...]:
    """Ids for ``(qualname, kind, shape, role)`` tuples given in source order."""
    seen: dict[tuple[str, str, str, str], int] = {}
    out: list[str] = []
    for key in elements:
        ordinal = seen.get(key, 0)
        seen[key] = ordinal + 1
        out.append(symbol_id(module, *key, ordinal=ordinal))
    return tuple(out)
