"""Per-edit `codeprm step` latency: warm daemon, no daemon, and the server's own re-check, side by side.

A copy of the installed `click` package is the workspace. Each edit is a distinct
one-line edit of one of its modules, in turn: two in three insert a statement into a
function body (every third edit a type error), one in three adds a top-level name (a
change of the module's surface, which its importers can see). For each edit, in one
run and interleaved (the first two alternate which goes first):

  warm    `codeprm step EDIT` through the warm daemon (a new process, the socket,
          scoring, rendering): what an agent waits for
  server  basedpyright's own re-check of the same files on a second warm server, timed
          through the session as diag_latency.py does: didChange of the edited file, then
          the pull of its diagnostics (``edited``), then also of every other covered file
          (``covered``: the files the step's facts count)
  baseline  (with --baseline DIR) the same command through a daemon of another codeprm
          (e.g. `git archive OLD codeprm | tar -x -C DIR`) on a second copy
  cold    (every --cold-every-th edit) the same command with CODEPRM_NO_DAEMON=1, a fresh
          process and server; its facts must equal the warm ones (a full re-check)

Before timing, the daemon scores one edit of every module (its first call starts its
server): the warm state of an agent working on the project. Prints medians and the
ratios warm/server (target <= 1.5x) and cold/warm; "same files" compares each edit with
the server's re-check of the files the warm step re-checks (body: the edited file,
surface: every covered file).

Run: python benchmarks/cli_latency.py [--edits N] [--cold-every K] [--click DIR]
(DIR: the click package to copy, e.g. src/click of a clone of pallets/click)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from codeprm.analysis import structure
from codeprm.lsp import LspSession, SessionConfig

T = TypeVar("T")


def codeprm(*args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "codeprm", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"codeprm {' '.join(args)} failed: {proc.stderr}")
    return elapsed, proc.stdout


def make_edit(root: Path, target: Path, i: int, kind: str) -> tuple[str, str]:
    """(unified diff, text after) of the i-th edit of target: a body line or a top-level name."""
    lines = target.read_text().split("\n")
    if kind == "surface":
        k, new = len(lines) - 1, f"_bench_{i}: int = {i}"
    else:  # a statement before one of the module's `return`s, inside a function body
        returns = [j for j, line in enumerate(lines) if re.match(r"^\s+return\b", line)]
        k = returns[(i * 7) % len(returns)]
        indent = lines[k][: len(lines[k]) - len(lines[k].lstrip())]
        new = f"{indent}_bench_{i}: int = " + ("'not an int'" if i % 3 == 0 else str(i))
    rel = target.relative_to(root).as_posix()
    after = "\n".join([*lines[:k], new, *lines[k:]])
    return f"--- a/{rel}\n+++ b/{rel}\n@@ -{k},0 +{k + 1},1 @@\n+{new}\n", after


class Server:
    """A second warm basedpyright over the same workspace, driven through the session."""

    def __init__(self, root: Path) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.session = LspSession(SessionConfig(root=root, timeout=300))
        self.run(self.session.start())
        self.root = root
        for path in sorted(
            root.rglob("*.py")
        ):  # every module open and checked, as a warm session holds them
            self.run(self.session.sync(path, path.read_text()))
        for path in sorted(root.rglob("*.py")):
            self.run(self.session.diagnostics(path))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def recheck(self, target: Path, after: str, covered: list[str]) -> tuple[float, float]:
        """Seconds for didChange + the edited file's pull, and + every other covered file's pull."""
        original = target.read_text()
        t0 = time.perf_counter()
        self.run(self.session.sync(target, after))
        self.run(self.session.diagnostics(target))
        edited = time.perf_counter() - t0
        for rel in covered:
            if self.root / rel != target:
                self.run(self.session.diagnostics(self.root / rel))
        every = time.perf_counter() - t0
        self.run(self.session.sync(target, original))  # back to the disk state, untimed
        return edited, every

    def close(self) -> None:
        self.run(self.session.close())
        self.loop.call_soon_threadsafe(self.loop.stop)


def facts_of(bundle: dict[str, Any]) -> Any:
    f = bundle["facts"]
    return (f["covered"], f["before"], f["after"], f["introduced"], f["fixed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=24)
    parser.add_argument(
        "--cold-every",
        type=int,
        default=4,
        help="run the no-daemon command on every K-th edit (0: never)",
    )
    parser.add_argument(
        "--baseline",
        default=None,
        help="also score every edit with the codeprm package under this directory (a PYTHONPATH entry), e.g. an export of an older commit",
    )
    parser.add_argument(
        "--cold-rank",
        type=int,
        default=0,
        metavar="N",
        help="also time N cold `codeprm rank` runs of the README demo with and without the PRM (benchmarks/cold_rank.py)",
    )
    parser.add_argument("--only-cold-rank", action="store_true", help="only the cold rank rows")
    parser.add_argument(
        "--click",
        type=Path,
        default=None,
        help="the click package to copy (e.g. src/click of a clone of pallets/click; default: the installed one)",
    )
    args = parser.parse_args()
    if args.only_cold_rank:
        run_cold_rank(args.cold_rank or 5)
        return
    spec = importlib.util.find_spec("click")
    assert spec and spec.origin
    source = args.click.resolve() if args.click else Path(spec.origin).parent
    rows: dict[str, list[float]] = {
        "warm": [],
        "server edited": [],
        "server covered": [],
        "warm serverMs": [],
        "cold": [],
        "cold paired warm": [],
        "baseline warm": [],
    }
    kinds: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        shutil.copytree(source, root / "click", ignore=shutil.ignore_patterns("__pycache__"))
        modules = sorted(p for p in (root / "click").glob("*.py") if p.name != "__init__.py")
        jobs = []
        for i in range(args.edits):
            kind = "surface" if i % 3 == 2 else "body"
            diff, after = make_edit(root, modules[i % len(modules)], i, kind)
            path = Path(tmp) / f"e{i}.diff"
            path.write_text(diff)
            jobs.append((modules[i % len(modules)], path, after, kind))
        # the files a step's facts count: the edited one and its importers (as StepEngine.covered)
        texts = {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*.py")}
        covers = []
        for target, _, after, _ in jobs:
            rel = target.relative_to(root).as_posix()
            covers.append(
                sorted(
                    {rel}
                    | structure.importers(texts, [rel])
                    | structure.importers({**texts, rel: after}, [rel])
                )
            )
        warmups = []
        for j, module in enumerate(modules):
            path = Path(tmp) / f"w{j}.diff"
            path.write_text(make_edit(root, module, 1000 + j, "body")[0])
            warmups.append(path)
        server = Server(root)
        base_env = {"PYTHONPATH": str(Path(args.baseline).resolve())} if args.baseline else None
        base_root = Path(tmp) / "wsb"
        if base_env:  # the same edits on a second copy, scored by another codeprm's daemon
            shutil.copytree(root, base_root)
            codeprm("daemon", "start", "-w", str(base_root), env=base_env)
        codeprm("daemon", "start", "-w", str(root))
        try:
            for path in warmups:
                codeprm("step", str(path), "-w", str(root))
                if base_env:
                    codeprm("step", str(path), "-w", str(base_root), env=base_env)
            for i, (target, diff, after, kind) in enumerate(jobs):
                kinds.append(kind)
                bundle: dict[str, Any] = {}
                order = ["warm", "server", *(["baseline"] if base_env else [])]
                for which in order[i % len(order) :] + order[: i % len(order)]:
                    if which == "baseline":
                        elapsed, out = codeprm(
                            "step", str(diff), "-w", str(base_root), "--json", env=base_env
                        )
                        rows["baseline warm"].append(elapsed)
                        base_bundle = json.loads(out)
                    elif which == "warm":
                        elapsed, out = codeprm("step", str(diff), "-w", str(root), "--json")
                        bundle = json.loads(out)
                        rows["warm"].append(elapsed)
                        rows["warm serverMs"].append(float(bundle["meta"]["serverMs"]) / 1000)
                    else:
                        edited, every = server.recheck(target, after, covers[i])
                        rows["server edited"].append(edited)
                        rows["server covered"].append(every)
                if base_env and facts_of(base_bundle) != facts_of(bundle):
                    raise SystemExit(f"edit {i}: the facts differ from the baseline's")
                assert bundle["facts"]["covered"] == covers[i], (
                    bundle["facts"]["covered"],
                    covers[i],
                )
                if args.cold_every and i % args.cold_every == 0:
                    elapsed, out = codeprm(
                        "step", str(diff), "-w", str(root), "--json", env={"CODEPRM_NO_DAEMON": "1"}
                    )
                    rows["cold"].append(elapsed)
                    rows["cold paired warm"].append(rows["warm"][-1])
                    cold = json.loads(out)
                    if facts_of(cold) != facts_of(bundle):
                        raise SystemExit(
                            f"edit {i}: the warm step's facts differ from a full re-check:\n{facts_of(bundle)}\n{facts_of(cold)}"
                        )
        finally:
            codeprm("daemon", "stop", "-w", str(root))
            if base_env:
                codeprm("daemon", "stop", "-w", str(base_root), env=base_env)
            server.close()

    def ms(values: list[float]) -> str:
        return (
            f"median {statistics.median(values) * 1000:8.1f} ms  (min {min(values) * 1000:7.1f}, max {max(values) * 1000:8.1f})"
            if values
            else "-"
        )

    def paired(a: str, b: str, which: str | None = None) -> float:
        return statistics.median(
            x / y for x, y, k in zip(rows[a], rows[b], kinds, strict=False) if which in (None, k)
        )

    print(
        f"workspace: click sources ({source}); {args.edits} edits, one module in turn ({kinds.count('body')} body, {kinds.count('surface')} surface)"
    )
    for name in ("warm", "warm serverMs", "server edited", "server covered", "baseline warm"):
        if not rows[name]:
            continue
        print(f"  {name:<22} {ms(rows[name])}")
        for kind in ("body", "surface"):
            print(
                f"    {kind:<20} {ms([v for v, k in zip(rows[name], kinds, strict=True) if k == kind])}"
            )
    print(
        f"  {'cold (no daemon)':<22} {ms(rows['cold'])}   ({len(rows['cold'])} edits, facts equal to the warm step's)"
    )
    print(
        f"ratio warm/server edited  = {paired('warm', 'server edited'):.2f}x median of paired ratios (body {paired('warm', 'server edited', 'body'):.2f}x, surface {paired('warm', 'server edited', 'surface'):.2f}x; target <= 1.5x)"
    )
    print(
        f"ratio warm/server covered = {paired('warm', 'server covered'):.2f}x (body {paired('warm', 'server covered', 'body'):.2f}x, surface {paired('warm', 'server covered', 'surface'):.2f}x)"
    )
    # the same files: a body edit re-checks the edited file, a surface edit also its importers
    rows["server same"] = [
        e if k == "body" else c
        for e, c, k in zip(rows["server edited"], rows["server covered"], kinds, strict=True)
    ]
    print(
        f"ratio warm/server same files = {paired('warm', 'server same'):.2f}x (body: edited, surface: covered)"
    )
    if rows["baseline warm"]:
        print(
            f"ratio baseline/server edited = {paired('baseline warm', 'server edited'):.2f}x (body {paired('baseline warm', 'server edited', 'body'):.2f}x, surface {paired('baseline warm', 'server edited', 'surface'):.2f}x); same files {paired('baseline warm', 'server same'):.2f}x"
        )
        print(
            f"ratio baseline/warm = {paired('baseline warm', 'warm'):.2f}x median of paired ratios (body {paired('baseline warm', 'warm', 'body'):.2f}x, surface {paired('baseline warm', 'warm', 'surface'):.2f}x)"
        )
    if rows["cold"]:
        print(
            f"ratio cold/warm = {statistics.median(c / w for c, w in zip(rows['cold'], rows['cold paired warm'], strict=True)):.1f}x median of paired ratios"
        )
    if args.cold_rank:
        print()
        run_cold_rank(args.cold_rank)


def run_cold_rank(repeats: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cold_rank import cold_rank

    cold_rank(repeats)


if __name__ == "__main__":
    main()
