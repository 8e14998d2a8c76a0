"""WorkspaceIndex: module names, skipped directories, parse-once-per-hash, history, symbol ids."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codeprm.errors import CodeprmError
from codeprm.selectors import WorkspaceIndex, doc_version, resolve
from codeprm.selectors.modules import module_name


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("src/pkg/__init__.py", "pkg"),
        ("src/pkg/mod.py", "pkg.mod"),
        ("src/pkg/mod.pyi", "pkg.mod"),
        ("pkg/sub/mod.py", "pkg.sub.mod"),  # namespace package: no __init__ needed
        ("tests/test_x.py", "tests.test_x"),
        ("scripts/run-me.py", "scripts.run-me"),
        ("a.b/c.py", None),
        ("__init__.py", None),
        ("README.md", None),
        ("srcx/m.py", "srcx.m"),
    ],
)
def test_module_names(path: str, module: str | None) -> None:
    assert module_name(path) == module


def test_custom_source_roots() -> None:
    assert module_name("lib/python/pkg/m.py", ["lib/python"]) == "pkg.m"


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")


def test_skips_venv_git_node_modules_pycache_and_hidden(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/mod.py": "def f(): pass\n",
            ".venv/lib/site.py": "x = 1\n",
            ".git/hooks/h.py": "x = 1\n",
            "node_modules/m/x.py": "x = 1\n",
            "pkg/__pycache__/mod.py": "x = 1\n",
            ".hidden/h.py": "x = 1\n",
            "pkg/.secret.py": "x = 1\n",
            "notes.md": "hello\n",
        },
    )
    index = WorkspaceIndex(tmp_path)
    assert index.paths() == ("pkg/mod.py",)
    assert index.parse_count == 1
    assert index.text("notes.md") == "hello\n"  # read on demand, not indexed
    assert index.get("notes.md") is None


def _bump_mtime(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_refresh_parses_only_changed_hashes(tmp_path: Path) -> None:
    files = {f"pkg/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(5)}
    _write(tmp_path, files)
    index = WorkspaceIndex(tmp_path)
    assert index.parse_count == 5

    stats = index.refresh()
    assert (stats.read, stats.parsed, index.parse_count) == (0, 0, 5)

    _bump_mtime(tmp_path / "pkg/m0.py")  # touched, same content: read, not parsed
    stats = index.refresh()
    assert (stats.read, stats.parsed) == (1, 0)

    original = (tmp_path / "pkg/m1.py").read_text()
    (tmp_path / "pkg/m1.py").write_text(original + "\ndef extra(): pass\n")
    _bump_mtime(tmp_path / "pkg/m1.py")
    stats = index.refresh()
    assert (stats.read, stats.parsed, index.parse_count) == (1, 1, 6)
    assert resolve("py://pkg.m1#extra", index).path == "pkg/m1.py"

    (tmp_path / "pkg/m1.py").write_text(original)  # revert: the old outline is cached
    _bump_mtime(tmp_path / "pkg/m1.py")
    assert index.refresh().parsed == 0
    assert index.parse_count == 6

    (tmp_path / "pkg/m2.py").rename(tmp_path / "pkg/moved.py")  # same content elsewhere
    stats = index.refresh()
    assert (stats.parsed, stats.removed) == (0, 1)
    assert resolve("py://pkg.moved#f2", index).path == "pkg/moved.py"

    (tmp_path / "pkg/new.py").write_text("class New: pass\n")
    assert index.refresh().parsed == 1
    (tmp_path / "pkg/new.py").unlink()
    assert index.refresh().removed == 1
    assert "pkg/new.py" not in index.paths()


def test_reload_one_file(tmp_path: Path) -> None:
    _write(tmp_path, {"m.py": "def a(): pass\n"})
    index = WorkspaceIndex(tmp_path)
    (tmp_path / "m.py").write_text("def b(): pass\n")
    assert index.reload("m.py")
    assert resolve("py://m#b", index).path == "m.py"
    (tmp_path / "m.py").unlink()
    assert not index.reload("m.py")
    assert index.paths() == ()


def test_file_never_leaves_the_root(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    _write(root, {"m.py": "x = 1\n"})
    _write(tmp_path, {"outside.txt": "secret\n"})
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    index = WorkspaceIndex(root)
    assert index.file("../outside.txt") is None
    assert index.file("link.txt") is None
    assert index.file("missing.txt") is None


def test_from_texts_does_no_io_and_keeps_history() -> None:
    index = WorkspaceIndex.from_texts({"m.py": "def f(): pass\n", "a.txt": "x"})
    assert index.root is None and index.paths() == ("m.py",)
    old = index.get("m.py")
    assert old is not None
    old = old.text
    index.set_text("m.py", "def g(): pass\n")
    assert index.parse_count == 2
    hits = index.versions(doc_version(old))
    assert [(p, t) for p, _, t in hits] == [("m.py", old)]
    index.set_text("m.py", old)  # back again: cached outline, no parse
    assert index.parse_count == 2
    index.remember("a.txt", "older text")
    assert index.versions(doc_version("older text"), "a.txt")[0][2] == "older text"
    index.remove("m.py")
    assert index.paths() == () and index.versions(doc_version(old), "m.py")


def test_symbol_ids_are_structural() -> None:
    base = (
        "import x\n\n"
        "class C:\n"
        "    @property\n    def p(self): return 1\n"
        "    @p.setter\n    def p(self, v): pass\n"
        "    def m(self, a: int, b=3) -> int:\n        return a\n"
    )
    index = WorkspaceIndex.from_texts({"pkg/m.py": base})
    ids = {
        s: resolve(s, index).symbol_id
        for s in (
            "py://pkg.m#C.m",
            "py://pkg.m#C.p",
            "py://pkg.m#C.p?accessor=setter",
            "py://pkg.m#C",
        )
    }
    assert len(set(ids.values())) == 4
    assert all(v and v.startswith("py:") for v in ids.values())

    edited = base.replace("import x\n", "import x\nimport y\n\n\ndef other(): pass\n").replace(
        "b=3", "b = 4"
    )
    index.set_text("pkg/m.py", edited)
    assert {s: resolve(s, index).symbol_id for s in ids} == ids

    index.set_text("pkg/m.py", base.replace("a: int", "a: str"))
    assert resolve("py://pkg.m#C.m", index).symbol_id != ids["py://pkg.m#C.m"]
    index.set_text("pkg/other.py", base)
    assert resolve("py://pkg.other#C", index).symbol_id != ids["py://pkg.m#C"]


def test_lazy_index_reads_only_what_a_selector_needs(tmp_path: Path) -> None:
    _write(tmp_path, {f"pkg/m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(20)})
    _write(tmp_path, {"src/lib/core.py": "class K:\n    def m(self): pass\n", "notes.txt": "x\n"})
    index = WorkspaceIndex(tmp_path, scan=False)
    assert index.parse_count == 0
    assert resolve("py://pkg.m3#f3", index).path == "pkg/m3.py"
    assert resolve("ast://[module=lib.core]/[class=K]/[def=m]", index).path == "src/lib/core.py"
    assert resolve("pkg/m7.py@L2:C5", index).symbol_id is not None
    assert resolve('anchor://notes.txt#"x"', index).path == "notes.txt"
    assert index.parse_count == 3
    # relocation by name needs every file: the workspace is walked once, then
    with pytest.raises(CodeprmError):
        resolve("py://pkg.m3#f4", index)
    assert index.parse_count == 21  # the three already parsed are not parsed again
    assert len(index.paths()) == 21


def test_the_index_and_the_analysis_walk_the_same_python_files(tmp_path: Path) -> None:
    from codeprm.analysis.files import iter_python_files
    from codeprm.selectors import WorkspaceIndex as Index

    for rel in (
        "pkg/a.py",
        "pkg/b.pyi",
        "build/x.py",
        "dist/y.py",
        "venv/z.py",
        ".tox/t.py",
        ".hidden.py",
        "pkg/.h.py",
        "node_modules/n.py",
        ".codeprm/c.py",
        "top.py",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    walked = {p.relative_to(tmp_path).as_posix() for p in iter_python_files(tmp_path)}
    assert walked == {"pkg/a.py", "pkg/b.pyi", "top.py"}
    assert set(Index(tmp_path).paths()) == walked
    lazy = Index(tmp_path, scan=False)
    assert lazy.get("build/x.py") is None and lazy.get("pkg/a.py") is not None
