"""The layers' import boundaries, checked on the source: crossing one fails here.

* only ``codeprm.lsp`` imports pygls or lsprotocol;
* only ``codeprm.prm`` imports torch or transformers;
* only ``codeprm.cli`` imports click or rich, and the library never imports ``codeprm.cli``;
* only ``codeprm.workspace`` imports gitpython or unidiff, or runs ``git``;
* only ``codeprm.distributed`` imports ray.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "codeprm"
OWNER = {
    "pygls": "lsp",
    "lsprotocol": "lsp",
    "torch": "prm",
    "transformers": "prm",
    "safetensors": "prm",
    "click": "cli",
    "rich": "cli",
    "git": "workspace",
    "unidiff": "workspace",
    "ray": "distributed",
}
#: known crossings, each waiting on a named issue; the list may only shrink
PENDING = {
    # the daemon re-runs the CLI in-process until the Workbench owns the warm state (issue 14)
    ("agents/daemon.py", "codeprm.cli"),
    ("agents/daemon.py", "codeprm.cli.entry"),
    ("agents/daemon.py", "codeprm.cli.main"),
}


def modules() -> Iterator[tuple[str, str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        package = rel.split("/")[0] if "/" in rel else ""
        yield rel, package, ast.parse(path.read_text("utf-8"), filename=str(path))


def imports(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def runs_git(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            if isinstance(first, (ast.List, ast.Tuple)) and first.elts:
                head = first.elts[0]
                if isinstance(head, ast.Constant) and head.value == "git":
                    return True
    return False


def test_third_party_imports_stay_in_their_layer() -> None:
    crossings = []
    for rel, package, tree in modules():
        for name in imports(tree):
            owner = OWNER.get(name.split(".")[0])
            if owner is not None and owner != package:
                crossings.append(f"{rel} imports {name} (only codeprm/{owner}/ may)")
    assert crossings == []


def test_the_library_never_imports_the_cli() -> None:
    crossings = []
    for rel, package, tree in modules():
        if package == "cli" or rel == "__main__.py":
            continue
        for name in imports(tree):
            if (name == "codeprm.cli" or name.startswith("codeprm.cli.")) and (rel, name) not in PENDING:
                crossings.append(f"{rel} imports {name}")
    assert crossings == []


def test_the_pending_list_only_shrinks() -> None:
    """An entry that no longer crosses must leave PENDING, so the list stays honest."""
    found = {(rel, name) for rel, _, tree in modules() for name in imports(tree)}
    assert found >= PENDING, sorted(PENDING - found)


def test_only_the_workspace_package_runs_git() -> None:
    assert [rel for rel, package, tree in modules() if package != "workspace" and runs_git(tree)] == []
