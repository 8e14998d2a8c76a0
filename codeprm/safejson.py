"""The one JSON loader for every JSON input: bounded depth, numbers and strings.

Inputs are read as I-JSON (RFC 7493): no NaN or Infinity (nor a float that overflows to
one), integers within +-2^53 (so no 4,300-digit integer ever reaches ``int()``), no lone
surrogates, and at most ``MAX_DEPTH`` nested arrays and objects. Anything else is a
UsageError (exit 2) that says where, never a RecursionError or ValueError (exit 1).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from codeprm.errors import UsageError

MAX_DEPTH = 200
MAX_SAFE_INTEGER = 2**53
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Refused(Exception):
    pass


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 16:  # |n| < 10^16 covers 2^53; longer is refused unparsed
        value = None if len(text) > 40 else int(text)
        if value is None or abs(value) > MAX_SAFE_INTEGER:
            raise _Refused(f"integer {text[:24]}{'...' if len(text) > 24 else ''} is beyond 2^53")
        return value
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise _Refused(f"integer {text} is beyond 2^53")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"number {text[:24]} overflows a double")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON")


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Refuse more than ``limit`` nested arrays/objects (counted outside strings)."""
    if text.count("[") + text.count("{") <= limit:
        return
    depth = 0
    for ch in _BRACKET.findall(_STRING.sub("", text)):
        if ch in "[{":
            depth += 1
            if depth > limit:
                raise UsageError(f"nested more than {limit} levels deep")
        else:
            depth -= 1


def _check_strings(value: Any, depth: int = 0) -> None:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise _Refused("a string holds a lone surrogate (not UTF-8 text)") from err
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_strings(k, depth + 1)
            _check_strings(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_strings(v, depth + 1)


def loads(text: str | bytes, *, what: str = "JSON input") -> Any:
    """Parse ``text`` as bounded I-JSON; every refusal is a UsageError naming ``what``."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as err:
            raise UsageError(f"{what}: not valid UTF-8 (byte {err.start})") from err
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise UsageError(f"{what}: holds a lone surrogate (not UTF-8 text)") from err
    try:
        check_depth(text)
    except UsageError as err:
        raise UsageError(f"{what}: {err.message}") from err
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
        if _SURROGATE_ESCAPE.search(text):
            _check_strings(value)
    except _Refused as err:
        raise UsageError(f"{what}: {err}") from err
    except json.JSONDecodeError as err:
        raise UsageError(
            f"{what}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}",
            details={"line": err.lineno, "column": err.colno, "reason": err.msg},
        ) from err
    except (RecursionError, ValueError) as err:
        raise UsageError(f"{what}: not acceptable JSON: {err}") from err
    return value
