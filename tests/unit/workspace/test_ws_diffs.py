"""Unified diff parsing and pure resolution against texts."""

from __future__ import annotations

import pytest
from ws_helpers import check_error

from codeprm.workspace.diffs import parse_unified_diff, resolve_patch
from codeprm.workspace.edits import FileEdit, WorkspaceChange


def check(
    diff: str, before: dict[str, str], after: dict[str, str], renames: dict[str, str] | None = None
) -> None:
    """Applying ``diff`` to ``before`` gives exactly ``after`` (and the expected renames)."""
    change = resolve_patch(parse_unified_diff(diff), before)
    assert change == WorkspaceChange.between(before, after, renames or {})


GIT_MODIFY = """\
diff --git a/src/app.py b/src/app.py
index 1111111..2222222 100644
--- a/src/app.py
+++ b/src/app.py
@@ -1,2 +1,2 @@
 def main():
-    return 1
+    return 2
"""

PLAIN_MODIFY = """\
--- app.py.orig\t2024-01-01 00:00:00
+++ app.py\t2024-01-02 00:00:00
@@ -1,2 +1,3 @@
 a
-b
+B
+c
"""

CASES = [
    pytest.param(GIT_MODIFY, {"src/app.py": "def main():\n    return 1\n"}, {"src/app.py": "def main():\n    return 2\n"}, None, id="git-modify"),
    pytest.param(PLAIN_MODIFY, {"app.py": "a\nb\n"}, {"app.py": "a\nB\nc\n"}, None, id="plain-no-prefix"),
    pytest.param(
        "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,2 @@\n+x\n+y\n", {}, {"new.txt": "x\ny\n"}, None, id="create-plain"
    ),
    pytest.param(
        "diff --git a/e b/e\nnew file mode 100644\nindex 0000000..e69de29\n", {}, {"e": ""}, None, id="create-empty"
    ),
    pytest.param(
        "diff --git a/g b/g\ndeleted file mode 100644\n--- a/g\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone\n",
        {"g": "gone\n"}, {}, None, id="delete",
    ),
    pytest.param(
        "--- a/n\n+++ b/n\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n",
        {"n": "a\nb"}, {"n": "a\nb\n"}, None, id="adds-final-newline",
    ),
    pytest.param(
        "--- a/n\n+++ b/n\n@@ -1 +1 @@\n-a\n+a\n\\ No newline at end of file\n",
        {"n": "a\n"}, {"n": "a"}, None, id="drops-final-newline",
    ),
    pytest.param(
        "--- a/w\n+++ b/w\n@@ -1,3 +1,3 @@\n one\r\n-two\r\n+2\r\n three\r\n",
        {"w": "one\r\ntwo\r\nthree\r\n"}, {"w": "one\r\n2\r\nthree\r\n"}, None, id="crlf-exact",
    ),
    pytest.param(
        "--- a/w\n+++ b/w\n@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n",
        {"w": "one\r\ntwo\r\nthree\r\n"}, {"w": "one\r\n2\r\nthree\r\n"}, None, id="crlf-file-lf-diff",
    ),
    pytest.param(
        "--- a/w\r\n+++ b/w\r\n@@ -1,2 +1,2 @@\r\n one\r\n-two\r\n+2\r\n",
        {"w": "one\ntwo\n"}, {"w": "one\n2\n"}, None, id="lf-file-diff-saved-with-crlf",
    ),
    pytest.param(
        "diff --git a/old.py b/pkg/new.py\nsimilarity index 80%\nrename from old.py\nrename to pkg/new.py\n"
        "--- a/old.py\n+++ b/pkg/new.py\n@@ -1 +1 @@\n-X = 1\n+X = 2\n",
        {"old.py": "X = 1\n"}, {"pkg/new.py": "X = 2\n"}, {"pkg/new.py": "old.py"}, id="rename-with-edit",
    ),
    pytest.param(
        "diff --git a/a b/b\nsimilarity index 100%\nrename from a\nrename to b\n",
        {"a": "same\n"}, {"b": "same\n"}, {"b": "a"}, id="pure-rename",
    ),
    pytest.param(
        'diff --git "a/caf\\303\\251 \\"x\\".txt" "b/caf\\303\\251 \\"x\\".txt"\n'
        '--- "a/caf\\303\\251 \\"x\\".txt"\n+++ "b/caf\\303\\251 \\"x\\".txt"\n@@ -1 +1 @@\n-1\n+2\n',
        {'café "x".txt': "1\n"}, {'café "x".txt': "2\n"}, None, id="git-quoted-path",
    ),
    pytest.param(
        "--- a/f\n+++ b/f\n@@ -10,2 +10,2 @@\n c\n-d\n+D\n",
        {"f": "a\nb\nc\nd\n"}, {"f": "a\nb\nc\nD\n"}, None, id="hunk-found-at-offset",
    ),
    pytest.param(
        "--- a/u\n+++ b/u\n@@ -1,2 +1,2 @@\n-🙂 \u2028x\n+🙃 \u2028x\n y\rz\n",
        {"u": "🙂 \u2028x\ny\rz\n"}, {"u": "🙃 \u2028x\ny\rz\n"}, None, id="unicode-separators-inside-lines",
    ),
    pytest.param(
        "--- a/m\n+++ b/m\n@@ -1,3 +1,3 @@\n-1\n+one\n 2\n 3\n@@ -7,3 +7,3 @@\n 7\n 8\n-9\n+nine\n",
        {"m": "".join(f"{i}\n" for i in range(1, 10))},
        {"m": "one\n" + "".join(f"{i}\n" for i in range(2, 9)) + "nine\n"}, None, id="two-hunks",
    ),
    pytest.param(
        GIT_MODIFY + "\ndiff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-x\n+y\n",
        {"src/app.py": "def main():\n    return 1\n", "README.md": "x\n"},
        {"src/app.py": "def main():\n    return 2\n", "README.md": "y\n"}, None, id="two-files-blank-line-between",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("diff", "before", "after", "renames"), CASES)
def test_diff_applies(
    diff: str, before: dict[str, str], after: dict[str, str], renames: dict[str, str] | None
) -> None:
    check(diff, before, after, renames)


@pytest.mark.parametrize(
    ("diff", "line"),
    [
        pytest.param("--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\nxx\n", 5, id="bad-hunk-line"),
        pytest.param("--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n", 6, id="hunk-too-short"),
        pytest.param("just some prose\nno diff here\n", 1, id="no-files"),
        pytest.param("@@ -1 +1 @@\n-a\n+b\n", 1, id="hunk-without-file"),
        pytest.param("+++ b/f\n@@ -1 +1 @@\n-a\n+b\n", 1, id="target-without-source"),
    ],
)
def test_malformed_diff_is_usage_error_with_line(diff: str, line: int) -> None:
    err = check_error(lambda: parse_unified_diff(diff), 2)
    assert err.details["line"] == line


def test_conflicting_hunk_is_70_with_the_hunk() -> None:
    diff = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+B\n"
    err = check_error(lambda: resolve_patch(parse_unified_diff(diff), {"f": "a\nchanged\n"}), 70)
    assert err.details["path"] == "f"
    assert err.details["hunk"] == "@@ -1,2 +1,2 @@\n a\n-b\n+B\n"
    assert err.details["hunk_index"] == 0
    assert err.details["diff_line"] == 3


@pytest.mark.parametrize(
    ("diff", "texts"),
    [
        pytest.param(
            "--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+x\n", {"f": "exists\n"}, id="create-existing"
        ),
        pytest.param("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n", {}, id="modify-missing"),
        pytest.param(
            "--- a/f\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n", {"f": "a\nmore\n"}, id="delete-partial"
        ),
        pytest.param(
            "--- a/n\n+++ b/n\n@@ -1 +1 @@\n-a\n+b\n", {"n": "a"}, id="newline-status-must-match"
        ),
    ],
)
def test_stale_diffs_conflict(diff: str, texts: dict[str, str]) -> None:
    check_error(lambda: resolve_patch(parse_unified_diff(diff), texts), 70)


@pytest.mark.parametrize(
    ("diff", "reason"),
    [
        pytest.param(
            "diff --git a/i.png b/i.png\nindex 1..2 100644\nBinary files a/i.png and b/i.png differ\n",
            "binary",
        ),
        pytest.param(
            "diff --git a/i.bin b/i.bin\nindex 1..2 100644\nGIT binary patch\nliteral 3\nKcmZ?wb~\n\n",
            "binary",
        ),
        pytest.param("diff --git a/s b/s\nold mode 100644\nnew mode 100755\n", "mode-change"),
        pytest.param(
            "diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+t\n",
            "symlink",
        ),
    ],
)
def test_unsupported_patches_are_72(diff: str, reason: str) -> None:
    check_error(lambda: parse_unified_diff(diff), 72, reason=reason)


def test_sequential_patches_to_the_same_file_compose() -> None:
    diff = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-b\n+c\n"
    change = resolve_patch(parse_unified_diff(diff), {"f": "a\n"})
    assert change == WorkspaceChange((FileEdit("f", "a\n", "c\n"),))


def test_patch_paths_lists_both_sides_of_a_rename() -> None:
    patch = parse_unified_diff(
        "diff --git a/a b/b\nsimilarity index 100%\nrename from a\nrename to b\n"
    )
    assert patch.paths() == ("a", "b")
    assert patch.files[0].kind == "rename"
