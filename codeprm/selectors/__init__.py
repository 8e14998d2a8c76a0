"""Selectors: name code by intent, keep naming it while code changes, say when unsure.

Five kinds of selector (see ``grammar`` for the grammar and conventions):
cursor ``src/app.py@L42:C7``, range ``src/app.py@R(42,7->44,1)``, symbol
``py://pkg.mod#Class.method:sig``, AST path ``ast://[module=pkg.mod]/[class=C]/[def=m]``
and content anchor ``anchor://src/app.py#"def%20load_data("?ctx=24``. Lines and columns
in selector strings are 1-based and columns count in the ``--index-io`` unit; results are
0-based utf-16 ``types.Range``.

This package must never be run as a script or put on ``sys.path`` itself: its name would
shadow the standard library's ``selectors`` module that asyncio imports.
"""

from __future__ import annotations

from codeprm.selectors.fingerprint import symbol_id
from codeprm.selectors.grammar import format_selector, parse_selector
from codeprm.selectors.index import IndexedFile, RefreshStats, WorkspaceIndex, doc_version
from codeprm.selectors.position_encoding import (
    INDEX_IO,
    ColumnError,
    IndexIO,
    LineTable,
    byte_to_position,
    convert_column,
    convert_position,
    offset_to_position,
    position_to_offset,
)
from codeprm.selectors.preview import format_position, format_range, preview
from codeprm.selectors.resolve import resolve
from codeprm.selectors.result import Resolution, VersionCheck
from codeprm.selectors.scoring import THRESHOLD, WEIGHTS, ScoredCandidate
from codeprm.selectors.spec import (
    AnchorSpec,
    AstPathSpec,
    AstStep,
    CursorSpec,
    PositionSpec,
    RangeSpec,
    SymbolSpec,
    spec_from_json,
    spec_json_schema,
)

__all__ = [
    "INDEX_IO",
    "THRESHOLD",
    "WEIGHTS",
    "AnchorSpec",
    "AstPathSpec",
    "AstStep",
    "ColumnError",
    "CursorSpec",
    "IndexIO",
    "IndexedFile",
    "LineTable",
    "PositionSpec",
    "RangeSpec",
    "RefreshStats",
    "Resolution",
    "ScoredCandidate",
    "SymbolSpec",
    "VersionCheck",
    "WorkspaceIndex",
    "byte_to_position",
    "convert_column",
    "convert_position",
    "doc_version",
    "format_position",
    "format_range",
    "format_selector",
    "offset_to_position",
    "parse_selector",
    "position_to_offset",
    "preview",
    "resolve",
    "spec_from_json",
    "spec_json_schema",
    "symbol_id",
]
