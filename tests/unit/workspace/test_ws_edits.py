"""The edit model: exact old -> new texts, pure evaluation, invariants."""

from __future__ import annotations

import pytest
from ws_helpers import check_error

from codeprm.workspace.edits import FileEdit, VirtualTree, WorkspaceChange, apply_to_texts

TEXTS = {"a.py": "A\n", "b.py": "B\n"}


@pytest.mark.parametrize(
    ("edits", "after"),
    [
        ([FileEdit("a.py", "A\n", "A2\n")], {"a.py": "A2\n", "b.py": "B\n"}),
        ([FileEdit("c.py", None, "C\n")], {**TEXTS, "c.py": "C\n"}),
        ([FileEdit("b.py", "B\n", None)], {"a.py": "A\n"}),
        (
            [FileEdit("a.py", "A\n", None), FileEdit("d/a.py", None, "A\n", "a.py")],
            {"b.py": "B\n", "d/a.py": "A\n"},
        ),
        ([], TEXTS),
    ],
)
def test_apply_to_texts_is_pure(edits: list[FileEdit], after: dict[str, str]) -> None:
    texts = dict(TEXTS)
    assert apply_to_texts(texts, WorkspaceChange.of(edits)) == after
    assert texts == TEXTS


@pytest.mark.parametrize(
    "edit",
    [FileEdit("a.py", "stale\n", "x"), FileEdit("a.py", None, "x"), FileEdit("zzz.py", "Z\n", "x")],
    ids=["changed", "exists", "missing"],
)
def test_mismatched_old_text_is_74(edit: FileEdit) -> None:
    err = check_error(lambda: apply_to_texts(TEXTS, WorkspaceChange.of([edit])), 74)
    assert err.details["path"] == edit.path


def test_invariants() -> None:
    check_error(lambda: FileEdit("a", None, None), 2)
    check_error(lambda: WorkspaceChange.of([FileEdit("a", "1", "2"), FileEdit("a", "1", "3")]), 2)
    check_error(
        lambda: WorkspaceChange.of([FileEdit("b", None, "x", "a")]), 2
    )  # source not deleted
    change = WorkspaceChange.of([FileEdit("z", "1", "2"), FileEdit("a", "1", "2")])
    assert change.paths == ("a", "z")  # sorted, so equal changes compare equal


def test_virtual_tree_tracks_renames_through_edits() -> None:
    tree = VirtualTree({"a": "1", "keep": "k"})
    tree.rename("a", "b")
    tree.write("b", "2")
    tree.rename("b", "c")
    assert tree.to_change() == WorkspaceChange.of(
        [FileEdit("a", "1", None), FileEdit("c", None, "2", "a")]
    )
    back = VirtualTree({"a": "1"})
    back.rename("a", "b")
    back.rename("b", "a")
    assert not back.to_change()


def test_to_json_has_hashes_not_texts() -> None:
    data = WorkspaceChange.of([FileEdit("a", "1", None), FileEdit("b", None, "1", "a")]).to_json()
    assert data[1]["renamedFrom"] == "a" and data[1]["kind"] == "create"
    assert data[0]["oldSha256"] == data[1]["newSha256"]
