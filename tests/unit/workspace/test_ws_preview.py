"""The preview diff is lossless: parsing it and applying it to the old texts gives the new ones,
and on disk, the bytes apply writes are the bytes the preview describes."""

from __future__ import annotations

import codecs
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from ws_helpers import make_repo, tree

from codeprm.workspace import apply_change, apply_to_texts, plan_diff, preview
from codeprm.workspace.diffs import parse_unified_diff, resolve_patch
from codeprm.workspace.edits import FileEdit, WorkspaceChange
from codeprm.workspace.textcodec import decode

# Lines drawn from a small alphabet so that diffs have shared context, plus the awkward ones.
_PIECES = [
    "a",
    "b",
    "c",
    "def f():",
    "    return 1",
    "",
    "🙂",
    "x\ry",
    "\u2028",
    "\x0c",
    " \t",
    "é",
    "\\",
]
_EOLS = ["\n", "\r\n", ""]


@st.composite
def texts(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_EOLS)), max_size=12))
    return "".join(piece + eol for piece, eol in lines)


@st.composite
def changes(draw: st.DrawFn) -> WorkspaceChange:
    names = ["a.txt", "dir/b.py", "c d.txt", "x\ty.md"]
    old = {n: draw(texts()) for n in names if draw(st.booleans())}
    new = {n: draw(texts()) for n in names if draw(st.booleans())}
    renames = {}
    if "a.txt" in old and "a.txt" not in new and "moved/a.txt" not in old and draw(st.booleans()):
        new["moved/a.txt"] = draw(st.sampled_from([old["a.txt"], draw(texts())]))
        renames["moved/a.txt"] = "a.txt"
    return WorkspaceChange.between(old, new, renames)


@settings(max_examples=300, deadline=None)
@given(changes())
def test_preview_round_trips_through_the_parser(change: WorkspaceChange) -> None:
    old = change.old_texts()
    diff = preview(change)
    if not change:
        assert diff == ""
        return
    again = resolve_patch(parse_unified_diff(diff), old)
    assert apply_to_texts(old, again) == apply_to_texts(old, change)


FILES: dict[str, bytes] = {
    "lf.py": b"def f():\n    return 1\n",
    "crlf.txt": b"one\r\ntwo\r\nthree\r\n",
    "nonl.txt": b"last line without newline",
    "bom.txt": codecs.BOM_UTF8 + "héllo\n".encode(),
    "utf16.txt": codecs.BOM_UTF16_LE + "🙂 wide\nline\n".encode("utf-16-le"),
    "latin1.txt": "caf\xe9\n".encode("latin-1"),
    "old_name.py": b"X = 1\n",
}
NEW_TEXTS = {
    "lf.py": "def f():\n    return 2\n",
    "crlf.txt": "one\r\n2\r\nthree\r\nfour\r\n",
    "nonl.txt": "last line without newline, edited",
    "bom.txt": "héllo\nwörld\n",
    "utf16.txt": "🙃 wide\nline\n",
    "latin1.txt": "caf\xe9 cr\xe8me\n",
}


def test_apply_writes_exactly_what_the_preview_says(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", FILES)
    old = {p: decode(b)[0] for p, b in FILES.items()}
    edits = [FileEdit(p, old[p], t) for p, t in NEW_TEXTS.items()]
    edits += [
        FileEdit("old_name.py", old["old_name.py"], None),
        FileEdit("pkg/new.py", None, "X = 2\n", "old_name.py"),
    ]
    edits.append(FileEdit("brand/new.txt", None, "fresh\n"))
    change = WorkspaceChange.of(edits)
    diff = preview(change)

    # The preview, parsed and applied to the old tree by codeprm's own diff code ...
    from_preview = apply_to_texts(old, resolve_patch(parse_unified_diff(diff), old))
    assert plan_diff(root, diff) == change
    # ... is byte for byte what apply writes, each file in its own encoding.
    twin = make_repo(tmp_path / "twin", FILES)
    apply_change(root, change)
    assert not (root / "old_name.py").exists()
    like = {**{p: p for p in FILES}, "pkg/new.py": "old_name.py"}
    for path, text in from_preview.items():
        codec = decode(FILES[like[path]])[1] if path in like else decode(b"")[1]
        assert (root / path).read_bytes() == codec.encode(text), path
    assert (root / "utf16.txt").read_bytes() == codecs.BOM_UTF16_LE + "🙃 wide\nline\n".encode(
        "utf-16-le"
    )
    assert (root / "latin1.txt").read_bytes() == "caf\xe9 cr\xe8me\n".encode("latin-1")
    assert (root / "crlf.txt").read_bytes() == b"one\r\n2\r\nthree\r\nfour\r\n"
    # git agrees for UTF-8 files (git diffs bytes; the preview shows decoded text, BOM-less).
    recoded = ["bom.txt", "utf16.txt", "latin1.txt"]
    excludes = [f"--exclude={p}" for p in recoded]
    subprocess.run(["git", "apply", *excludes, "-"], cwd=twin, input=diff.encode(), check=True)
    ours = {
        p: v for p, v in tree(root).items() if p not in recoded and not p.startswith(".codeprm/")
    }
    assert {p: v for p, v in tree(twin).items() if p not in recoded} == ours


def test_preview_of_a_rename_uses_git_headers() -> None:
    change = WorkspaceChange.between({"a.py": "x\n"}, {"b/a.py": "x\n"}, {"b/a.py": "a.py"})
    assert preview(change) == "diff --git a/a.py b/b/a.py\nrename from a.py\nrename to b/a.py\n"
