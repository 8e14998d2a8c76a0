"""Reading JSONL files line by line, each failure named with its file and line number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codeprm import safeio, safejson
from codeprm.errors import NotFoundError, UsageError


def iter_jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    """(``path:line``, parsed value) for every non-blank line; a bad line is exit 2."""
    found = safeio.problem(path, limit=1 << 62)  # a FIFO or a device is never opened
    if found is not None:
        raise found
    try:
        handle = path.open("r", encoding="utf-8")
    except FileNotFoundError as err:
        raise NotFoundError(f"{path}: no such file") from err
    except OSError as err:
        raise safeio.os_error(path, err) from err
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                yield where, safejson.loads(line, what=f"{where}: malformed or truncated line")
        except UnicodeDecodeError as err:
            raise UsageError(f"{path}: not valid UTF-8 (byte {err.start})") from err
