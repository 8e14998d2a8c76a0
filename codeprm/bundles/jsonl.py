"""Reading JSONL files line by line, each failure named with its file and line number."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codeprm.errors import NotFoundError, UsageError


def iter_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    """(``path:line``, parsed value) for every non-blank line; a bad line is exit 2."""
    try:
        handle = path.open("r", encoding="utf-8")
    except FileNotFoundError as err:
        raise NotFoundError(f"{path}: no such file") from err
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror or err}") from err
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    yield where, json.loads(line)
                except json.JSONDecodeError as err:
                    raise UsageError(f"{where}: malformed or truncated line: {err.msg} at column {err.colno}") from err
        except UnicodeDecodeError as err:
            raise UsageError(f"{path}: not valid UTF-8 (byte {err.start})") from err
