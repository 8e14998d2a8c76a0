"""Conformance: a table of (selector, workspace, expected) covering every kind and every error.

Expected is ``"path L:C-L:C"`` (1-based, utf-16 columns, end exclusive) or ``"!<error name>"``
(selector-syntax = exit 2, not-found = 3, ambiguous = 4, version-skew = 10). An optional
fourth column is the ``--index-io`` unit of the selector's columns. ``{v}`` stands for the
docVersion of ws_basic's src/shop/core.py as committed; the "edited" workspace has that
file changed in memory (see conftest.EDITS), so the index remembers the old text.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from codeprm.selectors import WorkspaceIndex

# fmt: off
TABLE: list[tuple[str, ...]] = [
    ('src/shop/core.py@L9:C5', 'basic', 'src/shop/core.py L9:C5'),
    ('src/shop/core.py@R(9,1->12,38)', 'basic', 'src/shop/core.py L9:C1-L12:C38'),
    ('src/shop/core.py@L77:C1', 'basic', 'src/shop/core.py L77:C1'),
    ('src/shop/core.py@L78:C1', 'basic', '!not-found'),
    ('src/shop/core.py@L9:C64', 'basic', 'src/shop/core.py L9:C64'),
    ('src/shop/core.py@L9:C65', 'basic', '!not-found'),
    ('src/shop/missing.py@L1:C1', 'basic', '!not-found'),
    ('README.md@L3:C5', 'basic', 'README.md L3:C5'),
    ('src/shop/unicode_mod.py@L7:C17', 'basic', 'src/shop/unicode_mod.py L7:C17'),
    ('src/shop/unicode_mod.py@L7:C16', 'basic', '!not-found', 'utf-8'),
    ('src/shop/unicode_mod.py@L7:C19', 'basic', 'src/shop/unicode_mod.py L7:C17', 'utf-8'),
    ('src/shop/unicode_mod.py@L7:C16', 'basic', 'src/shop/unicode_mod.py L7:C17', 'codepoint'),
    ('src/shop/unicode_mod.py@L7:C14', 'basic', '!not-found'),
    ('src/shop/unicode_mod.py@L7:C18', 'basic', 'src/shop/unicode_mod.py L7:C16', 'utf-8'),
    ('src/shop/unicode_mod.py@R(1,1->1,50)', 'basic', 'src/shop/unicode_mod.py L1:C1-L1:C50'),
    ('src/shop/unicode_mod.py@R(1,1->1,51)', 'basic', '!not-found'),
    ('src/shop/unicode_mod.py@R(1,1->1,47)', 'basic', 'src/shop/unicode_mod.py L1:C1-L1:C48', 'codepoint'),
    ('src/shop/unicode_mod.py@R(1,1->1,57)', 'basic', 'src/shop/unicode_mod.py L1:C1-L1:C50', 'utf-8'),
    ('crlf.py@L4:C12', 'crlf', 'crlf.py L4:C12'),
    ('crlf.py@L4:C11', 'crlf', '!not-found'),
    ('crlf.py@L4:C9', 'crlf', 'crlf.py L4:C9', 'codepoint'),
    ('crlf.py@L4:C13', 'crlf', '!not-found', 'utf-8'),
    ('crlf.py@L7:C15', 'crlf', 'crlf.py L7:C15'),
    ('crlf.py@L7:C16', 'crlf', 'crlf.py L7:C16'),
    ('crlf.py@L8:C1', 'crlf', 'crlf.py L8:C1'),
    ('crlf.py@L9:C1', 'crlf', '!not-found'),
    ('notes.txt@L1:C6', 'crlf', 'notes.txt L1:C6'),
    ('notes.txt@L1:C5', 'crlf', 'notes.txt L1:C6', 'codepoint'),
    ('notes.txt@L1:C8', 'crlf', 'notes.txt L1:C5', 'utf-8'),
    ('py://shop.core#load_data', 'basic', 'src/shop/core.py L9:C1-L12:C38'),
    ('py://shop.core#load_data:sig', 'basic', 'src/shop/core.py L9:C1-L9:C64'),
    ('py://shop.core#load_data:body', 'basic', 'src/shop/core.py L10:C5-L12:C38'),
    ('py://shop.core#load_data:doc', 'basic', 'src/shop/core.py L10:C5-L10:C22'),
    ('py://shop.core#logged:doc', 'basic', '!not-found'),
    ('py://shop.core#logged.wrapper', 'basic', 'src/shop/core.py L16:C5-L18:C37'),
    ('py://shop.core#Cart', 'basic', 'src/shop/core.py L23:C1-L61:C30'),
    ('py://shop.core#Cart:sig', 'basic', 'src/shop/core.py L23:C1-L23:C12'),
    ('py://shop.core#Cart:doc', 'basic', 'src/shop/core.py L24:C5-L24:C27'),
    ('py://shop.core#Cart.size', 'basic', 'src/shop/core.py L31:C5-L34:C32'),
    ('py://shop.core#Cart.size?accessor=setter', 'basic', 'src/shop/core.py L36:C5-L38:C50'),
    ('py://shop.core#Cart.size?accessor=deleter', 'basic', 'src/shop/core.py L40:C5-L42:C28'),
    ('py://shop.core#Cart.size:doc', 'basic', 'src/shop/core.py L33:C9-L33:C31'),
    ('py://shop.core#Cart.add', 'basic', 'src/shop/core.py L44:C5-L46:C33'),
    ('py://shop.core#Cart.empty:sig', 'basic', 'src/shop/core.py L50:C5-L50:C25'),
    ('py://shop.core#Cart.Line.total', 'basic', 'src/shop/core.py L56:C9-L57:C29'),
    ('py://shop.core#Cart.Line.Note.text', 'basic', 'src/shop/core.py L60:C13-L61:C30'),
    ('py://shop.core#parse', 'basic', 'src/shop/core.py L68:C1-L69:C17'),
    ('py://shop.core#parse?overload=1', 'basic', 'src/shop/core.py L64:C1-L65:C34'),
    ('py://shop.core#parse?overload=2:sig', 'basic', '!selector-syntax'),
    ('py://shop.core#parse:sig?overload=2', 'basic', 'src/shop/core.py L67:C1-L67:C30'),
    ('py://shop.core#parse?overload=3', 'basic', '!not-found'),
    ('py://shop.core#load_data?accessor=getter', 'basic', '!not-found'),
    ('py://shop.core#fetch:sig', 'basic', 'src/shop/core.py L72:C1-L72:C36'),
    ('py://shop.core#fetch.helper', 'basic', 'src/shop/core.py L73:C5-L74:C19'),
    ('py://shop.core', 'basic', 'src/shop/core.py L1:C1-L77:C1'),
    ('py://shop.core:doc', 'basic', 'src/shop/core.py L1:C1-L1:C31'),
    ('py://shop.core:sig', 'basic', '!not-found'),
    ('py://shop', 'basic', 'src/shop/__init__.py L1:C1-L2:C1'),
    ('py://shop.nothing', 'basic', '!not-found'),
    ('py://shop.core#nothing', 'basic', '!not-found'),
    ('py://ns_pkg.sub.mod#ns_func', 'basic', 'ns_pkg/sub/mod.py L1:C1-L2:C13'),
    ('py://scripts.tool#main', 'basic', 'scripts/tool.py L4:C1-L5:C20'),
    ('py://shop.unicode_mod#naïve', 'basic', 'src/shop/unicode_mod.py L6:C1-L7:C26'),
    ('py://shop.unicode_mod#Café.señal:sig', 'basic', 'src/shop/unicode_mod.py L11:C5-L11:C45'),
    ('py://shop.unicode_mod#Caf%C3%A9.se%C3%B1al:sig', 'basic', 'src/shop/unicode_mod.py L11:C5-L11:C45'),
    ('py://crlf#combining', 'crlf', 'crlf.py L6:C1-L7:C16'),
    ('py://crlf#tabbed:body', 'crlf', 'crlf.py L4:C2-L4:C37'),
    ('py://mod#f', 'clash', '!ambiguous'),
    ('py://mod', 'clash', '!ambiguous'),
    ('py://redef#compat', 'clash', '!ambiguous'),
    ('py://redef#compat?overload=2', 'clash', 'redef.py L7:C5-L8:C17'),
    ('py://stub#g', 'clash', '!ambiguous'),
    ('py://stub#g?overload=2', 'clash', 'stub.pyi L5:C1-L6:C26'),
    ('ast://[module=shop.core]', 'basic', 'src/shop/core.py L1:C1-L77:C1'),
    ('ast://[module=shop.core]/[class=Cart]/[class=Line]/[def=total]', 'basic', 'src/shop/core.py L56:C9-L57:C29'),
    ('ast://[module=shop.core]/[class=Cart]/[def=size]', 'basic', 'src/shop/core.py L31:C5-L34:C32'),
    ('ast://[module=shop.core]/[def=Cart]', 'basic', '!ambiguous'),
    ('ast://[module=shop.core]/[def=parse]', 'basic', 'src/shop/core.py L68:C1-L69:C17'),
    ('ast://[module=shop.core]/[def=fetch]/[def=helper]', 'basic', 'src/shop/core.py L73:C5-L74:C19'),
    ('ast://[module=shop.core]/[def=nothing]', 'basic', '!not-found'),
    ('anchor://src/shop/core.py#"def load_data("', 'basic', 'src/shop/core.py L9:C1-L9:C15'),
    ('anchor://src/shop/core.py#"def%20load_data("', 'basic', 'src/shop/core.py L9:C1-L9:C15'),
    ('anchor://src/shop/core.py#"return"', 'basic', '!ambiguous'),
    ('anchor://src/shop/core.py#"zzzz_nothing_here"', 'basic', '!not-found'),
    ('anchor://src/shop/unicode_mod.py#"+ x"', 'basic', 'src/shop/unicode_mod.py L7:C17-L7:C20'),
    ('anchor://src/shop/unicode_mod.py#"😀😀"', 'basic', 'src/shop/unicode_mod.py L11:C31-L11:C35'),
    ('anchor://crlf.py#"𝔘"', 'crlf', 'crlf.py L4:C10-L4:C12'),
    ('anchor://src/shop/missing.py#"x"', 'basic', '!not-found'),
    ('src/shop/core.py@L9:C5?v={v}', 'edited', 'src/shop/core.py L12:C5'),
    ('src/shop/core.py@L9:C5?v={v}', 'basic', 'src/shop/core.py L9:C5'),
    ('src/shop/core.py@L9:C5?v=deadbeefdead', 'edited', '!version-skew'),
    ('src/shop/core.py@L72:C5?v={v}', 'edited', '!version-skew'),
    ('src/shop/core.py@R(64,1->69,17)?v={v}', 'edited', 'src/shop/core.py L67:C1-L72:C17'),
    ('py://shop.core#load_data?v={v}', 'edited', 'src/shop/core.py L12:C1-L15:C38'),
    ('py://shop.core#load_data?v=deadbeefdead', 'edited', 'src/shop/core.py L12:C1-L15:C38'),
    ('py://shop.core#fetch?v={v}', 'edited', 'src/shop/core.py L75:C1-L79:C20'),
    ('py://shop.core#fetch', 'edited', '!not-found'),
    ('py://shop.core#fetch?v=deadbeefdead', 'edited', '!version-skew'),
    ('py://shop.core#fetch.helper', 'edited', '!ambiguous'),
    ('py://shop.core#fetch.helper?v={v}', 'edited', 'src/shop/core.py L76:C5-L77:C19'),
    ('py://shop.core#Cart.Line.total?v={v}', 'edited', 'src/shop/core.py L59:C9-L60:C29'),
    ('ast://[module=shop.core]/[def=fetch]/[def=helper]', 'edited', 'src/shop/core.py L76:C5-L77:C19'),
    ('ast://[module=shop.core]/[def=fetch]?v={v}', 'edited', 'src/shop/core.py L75:C1-L79:C20'),
    ('anchor://src/shop/core.py#"async def fetch(url"', 'edited', 'src/shop/core.py L75:C1-L75:C20'),
    ('anchor://src/shop/core.py#"async def fetch(url"?v={v}', 'edited', 'src/shop/core.py L75:C1-L75:C20'),
    ('anchor://src/shop/core.py#"return"?v={v}', 'edited', '!version-skew'),
    ('anchor://src/shop/core.py#"return helper()"?v={v}', 'edited', 'src/shop/core.py L79:C5-L79:C20'),
    ('anchor://src/shop/core.py#"qwertyuiop_asdfgh"?v={v}', 'edited', '!version-skew'),
    ('src/shop/core.py@L0:C1', 'basic', '!selector-syntax'),
    ('py://shop.core#Cart..size', 'basic', '!selector-syntax'),
    ('ast://[module=shop.core]/[module=x]', 'basic', '!selector-syntax'),
    ('anchor://src/shop/core.py#"unterminated', 'basic', '!selector-syntax'),
    ('py://shop.core#f?overload=1&accessor=setter', 'basic', '!selector-syntax'),
    ('src/shop/core.py@L1:C1?v=xyz', 'basic', '!selector-syntax'),
]
# fmt: on


@pytest.mark.parametrize("row", TABLE, ids=[f"{r[1]}:{r[0]}" for r in TABLE])
def test_conformance(
    row: tuple[str, ...], workspaces: dict[str, WorkspaceIndex], check: Callable[..., None]
) -> None:
    selector, workspace, expected, *unit = row
    check(selector, workspaces[workspace], expected, *unit)
    if f"{workspace}-lazy" in workspaces:  # the same answer without walking the tree first
        check(selector, workspaces[f"{workspace}-lazy"], expected, *unit)


def test_table_covers_every_kind_and_error() -> None:
    expected = {r[2] for r in TABLE}
    for error in ("!selector-syntax", "!not-found", "!ambiguous", "!version-skew"):
        assert error in expected
    prefixes = {r[0].split("://")[0] if "://" in r[0] else "position" for r in TABLE}
    assert prefixes == {"position", "py", "ast", "anchor"}
    assert any("@R(" in r[0] for r in TABLE) and any("@L" in r[0] for r in TABLE)
    assert {r[3] for r in TABLE if len(r) > 3} == {"utf-8", "codepoint"}
