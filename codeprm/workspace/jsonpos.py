"""Find the 1-based line of a JSON value by its pointer, so JSON errors can name a line.

Used only on the error path: the document has already been parsed by ``json`` (so it is
well-formed); this walks the text once more, skipping values it does not need.
"""

from __future__ import annotations

import json.decoder
import re
from collections.abc import Callable, Sequence

_WS = re.compile(r"[ \t\n\r]*")
# The stdlib's own JSON string scanner; typeshed does not declare it.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # pyright: ignore[reportAttributeAccessIssue]
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def line_of(text: str, pointer: Sequence[str | int]) -> int | None:
    """The line where the value at ``pointer`` starts, or None if it cannot be found."""
    try:
        pos = _ws(text, 0)
        for step in pointer:
            found = _child(text, pos, step)
            if found is None:
                return text.count("\n", 0, pos) + 1
            pos = found
    except (IndexError, ValueError):
        return None
    return text.count("\n", 0, pos) + 1


def format_pointer(pointer: Sequence[str | int]) -> str:
    """RFC 6901 form of ``pointer`` ("" for the whole document)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in pointer)


def _ws(text: str, pos: int) -> int:
    m = _WS.match(text, pos)
    return m.end() if m else pos


def _child(text: str, pos: int, step: str | int) -> int | None:
    """Start of member/element ``step`` of the container starting at ``pos``."""
    opener = text[pos]
    if opener not in "{[":
        return None
    pos, index = _ws(text, pos + 1), 0
    while text[pos] not in "}]":
        if opener == "{":
            key, pos = _scanstring(text, pos + 1)
            pos = _ws(text, _ws(text, pos) + 1)  # past the colon
            match = key == step
        else:
            match = index == step
        if match:
            return pos
        pos = _ws(text, _skip(text, pos))
        if text[pos] == ",":
            pos = _ws(text, pos + 1)
        index += 1
    return None


def _skip(text: str, pos: int) -> int:
    """End of the value starting at ``pos``."""
    ch = text[pos]
    if ch == '"':
        return _scanstring(text, pos + 1)[1]
    if ch in "{[":
        closer = "}" if ch == "{" else "]"
        pos = _ws(text, pos + 1)
        while text[pos] != closer:
            if ch == "{":
                pos = _scanstring(text, pos + 1)[1]
                pos = _ws(text, _ws(text, pos) + 1)
            pos = _ws(text, _skip(text, pos))
            if text[pos] == ",":
                pos = _ws(text, pos + 1)
        return pos + 1
    m = _SCALAR.match(text, pos)
    if not m:
        raise ValueError(f"unexpected JSON at {pos}")
    return m.end()
