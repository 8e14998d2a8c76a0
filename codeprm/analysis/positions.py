"""Showing server positions to people: 1-based lines and columns in the --index-io unit."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from codeprm.analysis import files
from codeprm.errors import CodeprmError
from codeprm.selectors.position_encoding import LineTable
from codeprm.types import Position


def converter(root: Path, index_io: str) -> Callable[[str, dict[str, int]], tuple[int, int]]:
    """(workspace-relative path, 0-based utf-16 position) -> 1-based (line, column) in index_io.

    A file outside the workspace or unreadable keeps its utf-16 column.
    """
    tables: dict[str, LineTable | None] = {}

    def convert(path: str, pos: dict[str, int]) -> tuple[int, int]:
        if path not in tables:
            try:
                tables[path] = None if "://" in path else LineTable(files.read_source(root / path))
            except CodeprmError:
                tables[path] = None
        table = tables[path]
        position = Position(pos["line"], pos["character"])
        if table is not None:
            with contextlib.suppress(ValueError, IndexError):
                position = table.convert_position(position, "utf-16", index_io)  # type: ignore[arg-type]
        return position.line + 1, position.character + 1

    return convert
