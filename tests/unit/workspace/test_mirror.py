"""The scratch mirror of a state's sources, and the disk's source file set (no server)."""

from __future__ import annotations

from pathlib import Path

from codeprm.analysis.files import SourceFileSet
from codeprm.languages import PYTHON
from codeprm.workspace.mirror import ScratchMirror, mirror_languages, mirrored
from tests.conftest import tree


def test_mirror_holds_exactly_the_states_python_files_and_reports_events(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "pkg").mkdir(parents=True)
    (ws / "pkg" / "__init__.py").write_text("")
    (ws / "pkg" / "py.typed").write_text("")
    (ws / "pyrightconfig.json").write_text("{}")
    (ws / "a.py").write_text("x = 1\n")
    before = tree(ws)
    with ScratchMirror(ws, key=f"{tmp_path}-test") as m:
        root = m.root
        assert not root.is_relative_to(ws)
        assert (root / "pyrightconfig.json").read_text() == "{}" and (
            root / "pkg" / "py.typed"
        ).exists()
        state = {
            "a.py": "x = 1\n",
            "pkg/__init__.py": "",
            "README.md": "text",
            "blob.py": "\0blob 1234",
        }
        events = m.sync(state)
        assert sorted((p.relative_to(root).as_posix(), k) for p, k in events) == [
            ("a.py", "created"),
            ("pkg/__init__.py", "created"),
        ]
        assert not (root / "README.md").exists() and not (root / "blob.py").exists()
        assert m.sync(state) == []  # nothing moved
        events = m.sync({"a.py": "x = 2\n", "sub/new.py": "y = 1\n"})
        assert sorted((p.relative_to(root).as_posix(), k) for p, k in events) == [
            ("a.py", "changed"),
            ("pkg/__init__.py", "deleted"),
            ("sub/new.py", "created"),
        ]
        assert (root / "a.py").read_text() == "x = 2\n" and not (
            root / "pkg" / "__init__.py"
        ).exists()
        assert (root / "pkg" / "py.typed").exists()  # copied markers stay
        m.sync({"a.py": "x = 2\n"})
        assert not (root / "sub").exists()  # a package the state no longer has is gone
    assert not root.exists()
    assert tree(ws) == before


def test_mirrored_paths() -> None:
    assert mirrored("a.py", "x") and mirrored("pkg/m.pyi", "")
    assert (
        not mirrored("../a.py", "x")
        and not mirrored("/a.py", "x")
        and not mirrored(".venv/a.py", "x")
    )
    assert not mirrored("a.py", "\0blob") and not mirrored("README.md", "x")


def test_python_file_set_follows_the_disk(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "a.py").write_text("")
    s = SourceFileSet(tmp_path)
    assert s.current() == {"a.py"}
    (tmp_path / "pkg" / "b.py").write_text("")
    assert s.current() == {"a.py", "pkg/b.py"}
    (tmp_path / "a.py").unlink()
    assert s.current() == {"pkg/b.py"}


def test_a_typescript_workspace_is_mirrored_with_its_project_files(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "node_modules" / "lib").mkdir(parents=True)
    (ws / "packages" / "a").mkdir(parents=True)
    (ws / "tsconfig.json").write_text("{}")
    (ws / "package.json").write_text("{}")
    (ws / "packages" / "a" / "tsconfig.build.json").write_text("{}")
    (ws / "src" / "m.ts").write_text("export const x = 1;\n")
    (ws / "tool.py").write_text("")
    languages = mirror_languages(ws)
    assert [lang.name for lang in languages] == ["python", "typescript"]
    assert mirror_languages(tmp_path) == (PYTHON,)  # no marker: Python only
    assert SourceFileSet(ws, languages).current() == {"src/m.ts", "tool.py"}
    assert SourceFileSet(ws).current() == {"tool.py"}
    assert mirrored("src/m.ts", "x", languages) and not mirrored("src/m.ts", "x")
    assert not mirrored("node_modules/lib/i.ts", "x", languages)
    before = tree(ws)
    with ScratchMirror(ws, languages=languages) as m:
        events = m.sync({"src/n.ts": "export const y = 2;\n", "tool.py": "", "README.md": "x"})
        assert [(p.relative_to(m.root).as_posix(), e) for p, e in events] == [
            ("src/n.ts", "created"),
            ("tool.py", "created"),
        ]
        for name in ("tsconfig.json", "package.json", "packages/a/tsconfig.build.json"):
            assert (m.root / name).read_text() == "{}"
        assert (m.root / "node_modules").is_symlink()
        assert (m.root / "node_modules").resolve() == (ws / "node_modules").resolve()
    assert tree(ws) == before
