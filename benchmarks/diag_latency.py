"""Edit -> fresh diagnostics latency: codeprm's warm session vs the per-edit CLI.

On a real medium-sized workspace (a copy of the installed `click` package's sources) it
measures, side by side in one run and interleaved edit by edit:

  session  codeprm's path: LspSession.sync(new text) + LspSession.diagnostics(file)
  raw      the server's own check: didChange + textDocument/diagnostic sent straight
           through the pygls client (no codeprm wrapping), on the same warm server
  cli      `basedpyright --outputjson FILE` run once per edit on the edited file

and prints medians and the ratios cli/session (target >= 15) and session/raw
(target <= 1.1). Run: python benchmarks/diag_latency.py [--edits N]

With ``--language typescript --workspace DIR`` (a TypeScript project: a tsconfig.json at
its root) the same three rows are measured with TypeScript 7's native server: codeprm's
session, the server's own pull round trip, and ``tsc --noEmit -p DIR`` per edit (target:
cli/session >= 20, session/raw <= 1.1). ``--cli-every K`` runs the per-edit CLI on every
K-th edit only: more edits (a steadier session/raw median) in the same time.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from codeprm.lsp import LspSession, SessionConfig
from codeprm.lsp.servers import basedpyright_entry, node_binary


def click_sources() -> Path:
    spec = importlib.util.find_spec("click")
    assert spec and spec.origin, "click is not installed"
    return Path(spec.origin).parent


def edit(text: str, i: int) -> str:
    """The i-th edit of a file; every third one introduces a type error."""
    if i % 3:
        return text + f"\n_codeprm_bench_{i}: int = {i}\n"
    return text + f"\n_codeprm_bench_{i}: int = 'not an int {i}'\n"


def ts_edit(text: str, i: int) -> str:
    """The i-th edit of a TypeScript file; every third one introduces a type error."""
    if i % 3:
        return text + f"\nexport const codeprmBench{i}: number = {i};\n"
    return text + f"\nexport const codeprmBench{i}: number = 'not a number {i}';\n"


async def measure(
    root: Path,
    jobs: list[tuple[Path, str]],
    cli_cmd: list[str],
    *,
    open_all: bool,
    spec: Any = None,
    pattern: str = "*.py",
    cli_every: int = 1,
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"session": [], "raw": [], "cli": [], "cli_edit": []}
    async with LspSession(SessionConfig(root=root, timeout=120, spec=spec)) as session:
        # open every module, as `codeprm diag` does, then warm up
        targets = sorted({t for t, _ in jobs})
        for path in (
            sorted(p for p in root.rglob(pattern) if "node_modules" not in p.parts)
            if open_all
            else targets
        ):
            await session.sync(path, path.read_text())
        for path in targets:
            await session.diagnostics(path)
        for i, (target, text) in enumerate(jobs):
            # the per-edit CLI on the same edit, written to disk (every cli_every-th edit)
            if i % cli_every == 0:
                original = target.read_text()
                target.write_text(text)
                t0 = time.perf_counter()
                subprocess.run(
                    [*cli_cmd] if spec is not None else [*cli_cmd, str(target)],
                    cwd=root,
                    capture_output=True,
                    check=False,
                )
                times["cli"].append(time.perf_counter() - t0)
                times["cli_edit"].append(i)
                target.write_text(original)
            # session and raw alternate which goes first, so neither pays for the CLI's wake
            order = ("session", "raw") if i % 2 else ("raw", "session")
            for kind in order:
                if kind == "session":
                    await _session_edit(session, target, text, i, times)
                else:
                    await _raw_edit(
                        session,
                        target,
                        text + (f"# raw {i}\n" if target.suffix == ".py" else f"// raw {i}\n"),
                        times,
                    )
    return times


async def _session_edit(
    session: LspSession, target: Path, text: str, i: int, times: dict[str, list[float]]
) -> None:
    """codeprm's own path: sync the new text, pull its diagnostics."""
    t0 = time.perf_counter()
    await session.sync(target, text)
    diags = await session.diagnostics(target)
    times["session"].append(time.perf_counter() - t0)
    if target.suffix == ".py":
        assert any("not an int" in d.message for d in diags) == (i % 3 == 0), [
            d.message for d in diags
        ]
    else:  # the error is on the appended line, whatever else the file already has
        last = len(text.rstrip("\n").split("\n")) - 1
        assert any(d.range.start.line == last and d.severity == "error" for d in diags) == (
            i % 3 == 0
        ), [d.message for d in diags]


async def _raw_edit(
    session: LspSession, target: Path, raw_text: str, times: dict[str, list[float]]
) -> None:
    """The server's own round trip: didChange + pull straight through the pygls client."""
    uri = target.resolve().as_uri()
    doc = session._documents[uri]  # keep the session's version count true
    doc.version += 1
    doc.text = raw_text
    client = session._client
    assert client is not None
    t0 = time.perf_counter()
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=doc.version),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=raw_text)],
        )
    )
    await client.text_document_diagnostic_async(
        lsp.DocumentDiagnosticParams(text_document=lsp.TextDocumentIdentifier(uri=uri))
    )
    times["raw"].append(time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=34)
    parser.add_argument(
        "--file", default=None, help="edit only this file (default: every module in turn)"
    )
    parser.add_argument(
        "--open",
        choices=("all", "target"),
        default="all",
        help="documents kept open in the session",
    )
    parser.add_argument(
        "--cli-every",
        type=int,
        default=1,
        metavar="K",
        help="run the per-edit CLI on every K-th edit only (more edits for the session/raw pair)",
    )
    parser.add_argument("--language", choices=("python", "typescript"), default="python")
    parser.add_argument(
        "--workspace", type=Path, default=None, help="typescript: the project to copy and edit"
    )
    args = parser.parse_args()
    if args.language == "typescript":
        return main_typescript(args)
    node, entry = node_binary(), basedpyright_entry()
    assert node and entry
    cli_cmd = [
        str(node),
        str(entry.parent / "index.js"),
        "--outputjson",
        "--pythonpath",
        sys.executable,
    ]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        shutil.copytree(
            click_sources(), root / "click", ignore=shutil.ignore_patterns("__pycache__")
        )
        files = sorted(root.rglob("*.py"))
        lines = sum(len(p.read_text().splitlines()) for p in files)
        targets = [root / args.file] if args.file else files
        jobs = [
            (targets[i % len(targets)], edit(targets[i % len(targets)].read_text(), i))
            for i in range(args.edits)
        ]
        times = asyncio.run(
            measure(root, jobs, cli_cmd, open_all=args.open == "all", cli_every=args.cli_every)
        )
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(
        f"workspace: click sources, {len(files)} files, {lines} lines; edited {args.file or 'every module in turn'}; {args.edits} edits; open documents: {args.open}"
    )
    for k in ("session", "raw", "cli"):
        print(
            f"  {k:<8} median {med[k]:9.1f} ms   (min {min(times[k]) * 1000:.1f}, max {max(times[k]) * 1000:.1f})"
        )
    paired_cli = statistics.median(
        c / times["session"][int(i)] for c, i in zip(times["cli"], times["cli_edit"], strict=True)
    )
    print(
        f"ratio cli/session   = {med['cli'] / med['session']:.1f}x of medians, {paired_cli:.1f}x median of paired ratios  (target >= 15x)"
    )
    paired = statistics.median(a / b for a, b in zip(times["session"], times["raw"], strict=True))
    print(
        f"ratio session/raw   = {med['session'] / med['raw']:.3f} of medians, {paired:.3f} median of paired ratios  (target <= 1.1)"
    )


def main_typescript(args: argparse.Namespace) -> None:
    from codeprm.lsp.servers import typescript_spec

    spec = typescript_spec()
    source = args.workspace or Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ws_ts"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        shutil.copytree(source, root, ignore=shutil.ignore_patterns(".git", "node_modules"))
        files = sorted(p for p in root.rglob("*.ts") if not p.name.endswith(".d.ts"))
        lines = sum(len(p.read_text().splitlines()) for p in files)
        targets = [root / args.file] if args.file else files
        jobs = [
            (targets[i % len(targets)], ts_edit(targets[i % len(targets)].read_text(), i))
            for i in range(args.edits)
        ]
        cli_cmd = [spec.command[0], "--noEmit", "-p", str(root)]
        times = asyncio.run(
            measure(
                root,
                jobs,
                cli_cmd,
                open_all=args.open == "all",
                spec=spec,
                pattern="*.ts",
                cli_every=args.cli_every,
            )
        )
    report(
        f"workspace: {source.name} (TypeScript {spec.version}), {len(files)} files, {lines} lines; edited {args.file or 'every module in turn'}; {args.edits} edits; open documents: {args.open}",
        times,
        cli_target=20,
    )


def report(title: str, times: dict[str, list[float]], cli_target: int) -> None:
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(title)
    for k in ("session", "raw", "cli"):
        print(
            f"  {k:<8} median {med[k]:9.1f} ms   (min {min(times[k]) * 1000:.1f}, max {max(times[k]) * 1000:.1f})"
        )
    paired_cli = statistics.median(
        c / times["session"][int(i)] for c, i in zip(times["cli"], times["cli_edit"], strict=True)
    )
    print(
        f"ratio cli/session   = {med['cli'] / med['session']:.1f}x of medians, {paired_cli:.1f}x median of paired ratios  (target >= {cli_target}x)"
    )
    paired = statistics.median(a / b for a, b in zip(times["session"], times["raw"], strict=True))
    print(
        f"ratio session/raw   = {med['session'] / med['raw']:.3f} of medians, {paired:.3f} median of paired ratios  (target <= 1.1)"
    )


if __name__ == "__main__":
    main()
