"""LSP WorkspaceEdit parsing (changes, documentChanges, resource ops) and exact UTF-16 positions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ws_helpers import check_error, tree

from codeprm.types import Position, Range, TextEdit
from codeprm.workspace import apply_workspace_edit, plan_workspace_edit
from codeprm.workspace.edits import WorkspaceChange
from codeprm.workspace.positions import LineIndex, apply_text_edits
from codeprm.workspace.wsedit import parse_workspace_edit, resolve_workspace_edit

ROOT = "/ws"


def uri(path: str) -> str:
    return f"file://{ROOT}/{path}"


def edit(l1: int, c1: int, l2: int, c2: int, text: str) -> dict[str, Any]:
    return {
        "range": {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}},
        "newText": text,
    }


def check(
    ws_edit: dict[str, Any],
    before: dict[str, str],
    after: dict[str, str],
    renames: dict[str, str] | None = None,
) -> None:
    """Resolving ``ws_edit`` (JSON text and decoded) against ``before`` gives exactly ``after``."""
    for form in (ws_edit, json.dumps(ws_edit, indent=2)):
        change = resolve_workspace_edit(parse_workspace_edit(form, ROOT), before)
        assert change == WorkspaceChange.between(before, after, renames or {})


# -- positions --------------------------------------------------------------------------------

TEXT = "a🙂b\r\nxé\rlast"  # 🙂 is one str char, 2 UTF-16 units, 4 UTF-8 bytes


@pytest.mark.parametrize(
    ("line", "char", "encoding", "offset"),
    [
        (0, 0, "utf-16", 0),
        (0, 1, "utf-16", 1),
        (0, 3, "utf-16", 2),  # after the emoji
        (0, 4, "utf-16", 3),  # end of line, before \r\n
        (0, 6, "utf-8", 3),
        (0, 3, "utf-32", 3),
        (1, 0, "utf-16", 5),  # after \r\n
        (1, 2, "utf-16", 7),
        (1, 3, "utf-8", 7),  # é is 2 UTF-8 bytes
        (2, 0, "utf-16", 8),  # a lone \r ends a line too
        (2, 4, "utf-16", 12),
    ],
)
def test_offsets(line: int, char: int, encoding: Any, offset: int) -> None:
    assert LineIndex(TEXT).offset(Position(line, char), encoding) == offset


@pytest.mark.parametrize(
    ("line", "char", "encoding"),
    [(0, 2, "utf-16"), (0, 5, "utf-16"), (3, 0, "utf-16"), (0, 2, "utf-8"), (1, 2, "utf-8")],
    ids=[
        "inside-surrogate-pair",
        "past-line-end",
        "past-last-line",
        "inside-utf8-emoji",
        "inside-utf8-e-acute",
    ],
)
def test_positions_not_in_the_text_are_74(line: int, char: int, encoding: Any) -> None:
    check_error(lambda: LineIndex(TEXT).offset(Position(line, char), encoding), 74)


def test_text_edits_follow_lsp_order_rules() -> None:
    at = Range(Position(0, 1), Position(0, 1))
    edits = [
        TextEdit(at, "1"),
        TextEdit(at, "2"),
        TextEdit(Range(Position(0, 0), Position(0, 1)), "Z"),
    ]
    assert apply_text_edits("ab", edits) == "Z12b"
    overlapping = [TextEdit(Range(Position(0, 0), Position(0, 2)), "x"), TextEdit(at, "y")]
    check_error(lambda: apply_text_edits("ab", overlapping), 2)


# -- WorkspaceEdit ----------------------------------------------------------------------------

CASES = [
    pytest.param(
        {"changes": {uri("a.py"): [edit(0, 4, 0, 5, "2"), edit(1, 0, 1, 0, "# end\n")]}},
        {"a.py": "x = 1\n"}, {"a.py": "x = 2\n# end\n"}, None, id="changes",
    ),
    pytest.param(
        {"changes": {uri("u.py"): [edit(0, 3, 0, 6, "🙃!")]}},
        {"u.py": "s='🙂x'\n"}, {"u.py": "s='🙃!'\n"}, None, id="astral-utf16",
    ),
    pytest.param(
        {"documentChanges": [{"textDocument": {"uri": uri("a.py"), "version": 3}, "edits": [edit(0, 0, 0, 1, "y")]}]},
        {"a.py": "x = 1\n"}, {"a.py": "y = 1\n"}, None, id="text-document-edit",
    ),
    pytest.param(
        {"documentChanges": [
            {"kind": "create", "uri": uri("pkg/__init__.py")},
            {"textDocument": {"uri": uri("pkg/__init__.py"), "version": None}, "edits": [edit(0, 0, 0, 0, "Y = 1\n")]},
        ]},
        {}, {"pkg/__init__.py": "Y = 1\n"}, None, id="create-then-edit",
    ),
    pytest.param(
        {"documentChanges": [
            {"kind": "rename", "oldUri": uri("old.py"), "newUri": uri("sub/new.py")},
            {"textDocument": {"uri": uri("sub/new.py"), "version": None}, "edits": [edit(0, 4, 0, 5, "2")]},
        ]},
        {"old.py": "X = 1\n"}, {"sub/new.py": "X = 2\n"}, {"sub/new.py": "old.py"}, id="rename-then-edit",
    ),
    pytest.param(
        {"documentChanges": [{"kind": "delete", "uri": uri("gone.py")}]},
        {"gone.py": "bye\n", "kept.py": "hi\n"}, {"kept.py": "hi\n"}, None, id="delete",
    ),
    pytest.param(
        {"documentChanges": [{"kind": "create", "uri": uri("e.py"), "options": {"ignoreIfExists": True}}]},
        {"e.py": "kept\n"}, {"e.py": "kept\n"}, None, id="create-ignore-if-exists",
    ),
    pytest.param(
        {"documentChanges": [{"kind": "create", "uri": uri("e.py"), "options": {"overwrite": True, "ignoreIfExists": True}}]},
        {"e.py": "old\n"}, {"e.py": ""}, None, id="create-overwrite-wins",
    ),
    pytest.param(
        {"documentChanges": [{"kind": "delete", "uri": uri("nope.py"), "options": {"ignoreIfNotExists": True}}]},
        {}, {}, None, id="delete-ignore-if-not-exists",
    ),
    pytest.param(
        {"documentChanges": [{"kind": "rename", "oldUri": uri("a.py"), "newUri": uri("b.py"), "options": {"overwrite": True}}]},
        {"a.py": "A\n", "b.py": "B\n"}, {"b.py": "A\n"}, None, id="rename-overwrite",
    ),
    pytest.param(
        {"changes": {uri("a%20b.py"): [edit(0, 0, 0, 0, "#")]}},
        {"a b.py": "x\n"}, {"a b.py": "#x\n"}, None, id="percent-encoded-uri",
    ),
    pytest.param(
        {"changes": {uri("c.py"): [edit(0, 5, 1, 0, "")]}},
        {"c.py": "line1\r\nline2\r\n"}, {"c.py": "line1line2\r\n"}, None, id="join-crlf-lines",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("ws_edit", "before", "after", "renames"), CASES)
def test_workspace_edit_resolves(
    ws_edit: dict[str, Any],
    before: dict[str, str],
    after: dict[str, str],
    renames: dict[str, str] | None,
) -> None:
    check(ws_edit, before, after, renames)


@pytest.mark.parametrize(
    ("ws_edit", "before"),
    [
        pytest.param({"changes": {uri("a.py"): [edit(5, 0, 5, 1, "x")]}}, {"a.py": "x\n"}, id="line-past-end"),
        pytest.param({"changes": {uri("a.py"): [edit(0, 9, 0, 9, "x")]}}, {"a.py": "x\n"}, id="char-past-end"),
        pytest.param({"changes": {uri("missing.py"): [edit(0, 0, 0, 0, "x")]}}, {}, id="edit-missing-file"),
        pytest.param({"documentChanges": [{"kind": "create", "uri": uri("a.py")}]}, {"a.py": ""}, id="create-existing"),
        pytest.param({"documentChanges": [{"kind": "delete", "uri": uri("a.py")}]}, {}, id="delete-missing"),
        pytest.param(
            {"documentChanges": [{"kind": "rename", "oldUri": uri("a.py"), "newUri": uri("b.py")}]},
            {"a.py": "", "b.py": ""}, id="rename-onto-existing",
        ),
    ],
)  # fmt: skip
def test_stale_workspace_edits_are_74(ws_edit: dict[str, Any], before: dict[str, str]) -> None:
    check_error(lambda: resolve_workspace_edit(parse_workspace_edit(ws_edit, ROOT), before), 74)


def test_version_mismatch_is_74() -> None:
    ws = {"documentChanges": [{"textDocument": {"uri": uri("a.py"), "version": 3}, "edits": []}]}
    parsed = parse_workspace_edit(ws, ROOT)
    resolve_workspace_edit(parsed, {"a.py": ""}, versions={"a.py": 3})
    check_error(lambda: resolve_workspace_edit(parsed, {"a.py": ""}, versions={"a.py": 4}), 74)


@pytest.mark.parametrize(
    ("text", "line", "pointer"),
    [
        pytest.param('{"changes": {\n  "x": [\n}', 3, None, id="json-syntax"),
        pytest.param('{\n "documentChanges": [\n  {"kind": "move", "uri": "file:///ws/a"}\n ]\n}', 3, "/documentChanges/0/kind", id="bad-kind"),
        pytest.param(
            '{"changes": {\n "file:///ws/a.py": [\n  {"range": {"start": {"line": 0, "character": 0},\n'
            '   "end": {"line": -1, "character": 0}}, "newText": ""}]}}',
            4, "/changes/file:~1~1~1ws~1a.py/0/range/end/line", id="negative-line",
        ),
        pytest.param('{"changes": {\n  "http://x/a.py": []\n}}', 2, "/changes/http:~1~1x~1a.py", id="not-a-file-uri"),
        pytest.param('{"documentChanges": {}}', 1, "/documentChanges", id="not-an-array"),
        pytest.param('[]', 1, "/", id="not-an-object"),
    ],
)  # fmt: skip
def test_malformed_workspace_edit_is_usage_error_with_line(
    text: str, line: int, pointer: str | None
) -> None:
    err = check_error(lambda: parse_workspace_edit(text, ROOT), 2)
    assert err.details["line"] == line
    if pointer is not None:
        assert err.details["pointer"] == pointer


def test_apply_workspace_edit_on_disk(repo: Path) -> None:
    ws = {
        "documentChanges": [
            {
                "textDocument": {"uri": (repo / "src/app.py").as_uri(), "version": 1},
                "edits": [edit(1, 11, 1, 12, "2")],
            },
            {
                "kind": "rename",
                "oldUri": (repo / "src/util.py").as_uri(),
                "newUri": (repo / "src/helpers.py").as_uri(),
            },
        ]
    }
    plan = plan_workspace_edit(repo, ws)
    assert [(e.path, e.kind) for e in plan.edits] == [
        ("src/app.py", "modify"),
        ("src/helpers.py", "create"),
        ("src/util.py", "delete"),
    ]
    apply_workspace_edit(repo, ws)
    assert (repo / "src/app.py").read_text() == "def main():\n    return 2\n"
    assert (repo / "src/helpers.py").read_text() == "X = 1\nY = 2\n"
    assert not (repo / "src/util.py").exists()


def test_workspace_edit_outside_the_workspace_is_71(repo: Path, outside: Path) -> None:
    before, before_out = tree(repo), tree(outside)
    ws = {"changes": {(outside / "secret.txt").as_uri(): [edit(0, 0, 0, 0, "pwned ")]}}
    check_error(lambda: apply_workspace_edit(repo, ws), 71, reason="absolute")
    assert tree(repo) == before and tree(outside) == before_out
