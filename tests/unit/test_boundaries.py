"""The layers' import boundaries, checked on the source: crossing one fails here.

* only ``codeprm.lsp`` imports pygls or lsprotocol;
* only ``codeprm.prm`` imports torch or transformers;
* only ``codeprm.cli`` imports click or rich, and the library never imports ``codeprm.cli``;
* only ``codeprm.workspace`` imports gitpython or unidiff, runs ``git``, or writes files
  (the few other writers, each of files that are not the user's sources, are listed);
* no module keeps mutable state at module level (warm state belongs to a Workbench, a
  trace to its call); the few process-wide caches that are not a workspace's state are
  listed with the reason.
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
PENDING: set[tuple[str, str]] = set()


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
            if (name == "codeprm.cli" or name.startswith("codeprm.cli.")) and (
                rel,
                name,
            ) not in PENDING:
                crossings.append(f"{rel} imports {name}")
    assert crossings == []


def test_the_pending_list_only_shrinks() -> None:
    """An entry that no longer crosses must leave PENDING, so the list stays honest."""
    found = {(rel, name) for rel, _, tree in modules() for name in imports(tree)}
    assert found >= PENDING, sorted(PENDING - found)


def test_only_the_workspace_package_runs_git() -> None:
    assert [
        rel for rel, package, tree in modules() if package != "workspace" and runs_git(tree)
    ] == []


#: modules outside workspace/ that write files, and what they write (never the user's sources)
WRITERS = {
    "agents/daemon.py": "the daemon's log and record in .codeprm/, its socket",
    "agents/daemonwire.py": "the daemon's record and private socket directory",
    "agents/verify.py": "the scratch copy tests run in, outside the workspace",
    "analysis/exec_runner.py": "the result file of one sandboxed execution",
    "analysis/execfacts.py": "scratch files of execution facts, in the sandbox",
    "bundles/schema.py": "codeprm schema export DIR: the published schemas",
    "bundles/trace.py": "--trace-file: the trace",
    "cli/score.py": "--bundles / --sarif / --markdown outputs the user named",
    "cli/trajectory.py": "the converted trajectory the user named",
    "cli/trace.py": "trace replay --out: the regenerated bundles",
    "prm/checkpoint.py": "checkpoints",
    "prm/execlabel.py": "scratch checkouts of the labelled projects",
    "lsp/provision.py": "codeprm servers install: a pinned language server in the cache",
    "prm/fetch.py": "the fetched default checkpoint in the cache",
    "prm/records.py": "mined data sets",
    "workbench.py": "agent repair --trajectory: the run's record the user named",
}
_WRITE_METHODS = {
    "write_text",
    "write_bytes",
    "unlink",
    "rmdir",
    "mkdir",
    "touch",
    "symlink_to",
    "rmtree",
    "copyfile",
    "copy2",
    "copytree",
    "move",
}
_WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"}


def writes_files(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = (
            func.attr
            if isinstance(func, ast.Attribute)
            else func.id
            if isinstance(func, ast.Name)
            else None
        )
        owner = (
            func.value.id
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            else None
        )
        if name in _WRITE_METHODS:
            found.append(name)
        elif owner == "os" and name in (
            "replace",
            "rename",
            "remove",
            "unlink",
            "rmdir",
            "makedirs",
            "mkdir",
        ):
            found.append(f"os.{name}")
        elif (
            owner == "os"
            and name == "open"
            and {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)} & _WRITE_FLAGS
        ):
            found.append("os.open for writing")
        elif name == "open":  # open(path, mode) or path.open(mode)
            modes = (node.args[1:2] if isinstance(func, ast.Name) else node.args[:1]) + [
                k.value for k in node.keywords if k.arg == "mode"
            ]
            if any(
                isinstance(m, ast.Constant)
                and isinstance(m.value, str)
                and set(m.value) & set("wax+")
                for m in modes
            ):
                found.append("open for writing")
    return found


def test_only_the_workspace_package_writes_files() -> None:
    """Writing the user's files is the workspace package's job (jail, journal, atomic apply)."""
    others = {
        rel: sorted(set(found))
        for rel, package, tree in modules()
        if package != "workspace" and (found := writes_files(tree))
    }
    assert {rel: f for rel, f in others.items() if rel not in WRITERS} == {}
    assert sorted(set(WRITERS) - set(others)) == []  # the list stays honest


#: module-level mutable state that is not a workspace's warm state, with the reason
PROCESS_STATE = {
    (
        "workspace/private.py",
        "_keys",
    ): "the per-user journal key, read once per process (not a workspace's)",
    ("workspace/transaction.py", "_warned"): "each warning about an untrusted journal printed once",
    ("workspace/transaction.py", "_hook"): "the test-only fault-injection hook",
    (
        "workspace/transaction.py",
        "_steps",
    ): "the fault-injection step counter, per process by design (crash tests)",
    # content-keyed memos of pure functions (bounded, mutated under a lock), like the
    # lru_caches: they hold no workspace's state, only answers for texts seen before
    ("analysis/execfacts.py", "_DEFS"): "definitions per (text, definition) digest",
    ("analysis/structure.py", "_IMPORTERS"): "importers per (snapshot digest, paths)",
    ("rewards/identity.py", "_SEGMENTS"): "tokens per top-level segment text",
}
_MUTATORS = {
    "append",
    "add",
    "update",
    "setdefault",
    "pop",
    "clear",
    "extend",
    "insert",
    "remove",
    "discard",
    "popitem",
    "appendleft",
    "move_to_end",
}


def module_state(tree: ast.Module) -> set[str]:
    """Module-level names the module rebinds (``global``) or mutates in place."""
    names = set()
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found.update(node.names)
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            found.update(
                t.value.id
                for t in targets
                if isinstance(t, ast.Subscript)
                and isinstance(t.value, ast.Name)
                and t.value.id in names
            )
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _MUTATORS
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in names
        ):
            found.add(node.func.value.id)
    return found


def test_no_module_level_warm_state() -> None:
    """What is warm belongs to a Workbench (a daemon's pool holds those); a trace is passed per call."""
    state = {(rel, name) for rel, _, tree in modules() for name in module_state(tree)}
    assert sorted(state - set(PROCESS_STATE)) == []
    assert sorted(set(PROCESS_STATE) - state) == []  # the list stays honest


_REDIRECTS = ("redirect_stdout", "redirect_stderr")
#: the known exceptions, each with the reason it is not a call's business
PROCESS_CONTEXT = {
    # `prm fetch --gguf` (never run by the daemon, run once per machine) silences the
    # progress bars transformers' GGUF loader draws on stderr whatever its settings
    "prm/fetch.py": ["redirect"],
}


def process_context_changes(tree: ast.Module) -> list[str]:
    """Calls that change the process's working directory, and rebindings of its streams."""
    found = []
    streams = {"stdin", "stdout", "stderr"}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("chdir", "fchdir")
        ):
            found.append(node.func.attr)
        elif isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Name) and node.func.id in _REDIRECTS)
            or (isinstance(node.func, ast.Attribute) and node.func.attr in _REDIRECTS)
        ):
            found.append("redirect")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for t in ast.walk(target):
                    if (
                        isinstance(t, ast.Attribute)
                        and t.attr in streams
                        and isinstance(t.value, ast.Name)
                        and t.value.id == "sys"
                    ):
                        found.append(f"sys.{t.attr} =")
    return found


def test_no_call_changes_the_process_directory_or_streams() -> None:
    """A call's directory and streams travel in its context (``cli.call.Call``): the daemon
    and ``trace replay`` run calls inside one process, side by side, so no module chdirs or
    rebinds ``sys.stdin`` / ``sys.stdout`` / ``sys.stderr`` (``tests/unit/test_call_context.py``
    checks the same at run time)."""
    found = {rel: f for rel, _, tree in modules() if (f := process_context_changes(tree))}
    assert found == PROCESS_CONTEXT
