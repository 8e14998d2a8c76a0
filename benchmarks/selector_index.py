"""Benchmark the selector index: build time, time per symbol resolution, refresh vs rebuild.

Run: ``python benchmarks/selector_index.py`` (the file is not named ``selectors.py``:
run as a script, that name would shadow the standard library module asyncio imports).

The workspace is a copy (Python files only) of a large installed package, by default the
first of moto / botocore / awscli found next to the running interpreter's site-packages
or the pyenv one, else the CPython standard library. The copy is changed on disk to time
``refresh()`` after one file changes against a full rebuild.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from codeprm.errors import CodeprmError
from codeprm.selectors import IndexedFile, WorkspaceIndex, resolve
from codeprm.selectors.symbols import definition_label

CANDIDATE_PACKAGES = ("moto", "botocore", "awscli")
PYENV_SITE = Path("/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages")


def default_source() -> Path:
    sites = [Path(p) for p in {sysconfig.get_paths()["purelib"], str(PYENV_SITE)}]
    for name in CANDIDATE_PACKAGES:
        for site in sorted(sites):
            if (site / name).is_dir():
                return site / name
    return Path(sysconfig.get_paths()["stdlib"])


def copy_python_tree(source: Path, dest: Path) -> tuple[int, int]:
    """Copy the .py/.pyi files of ``source`` under ``dest/<name>``; (files, lines)."""
    files = lines = 0
    for path in sorted(source.rglob("*.py*")):
        if path.suffix not in (".py", ".pyi") or not path.is_file():
            continue
        rel = path.relative_to(source.parent)
        if any(
            part.startswith(".") or part in ("__pycache__", "node_modules") for part in rel.parts
        ):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        files += 1
        with path.open("rb") as fh:
            lines += sum(1 for _ in fh)
    return files, lines


T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def indexed(index: WorkspaceIndex, path: str) -> IndexedFile:
    f = index.get(path)
    if f is None:
        raise LookupError(path)
    return f


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--source", type=Path, default=None, help="package directory to copy")
    parser.add_argument("--selectors", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    source = (args.source or default_source()).resolve()

    with tempfile.TemporaryDirectory(prefix="codeprm-bench-") as tmp:
        root = Path(tmp)
        files, lines = copy_python_tree(source, root)
        print(f"workspace: copy of {source} ({files} files, {lines} lines)")

        index, build_s = timed(lambda: WorkspaceIndex(root))
        n_defs = sum(len(indexed(index, p).definitions) for p in index.paths())
        print(
            f"index build: {build_s:.3f} s  ({index.parse_count} parses, {n_defs} definitions, "
            f"{lines / build_s:,.0f} lines/s)"
        )

        rng = random.Random(args.seed)
        pool = [(p, i) for p in index.paths() for i in range(len(indexed(index, p).definitions))]
        sample = rng.sample(pool, min(args.selectors, len(pool)))
        selectors = [definition_label(indexed(index, p), i) for p, i in sample]
        _, warm_s = timed(lambda: index.definitions_named("__init__"))  # builds the name index
        times: list[float] = []
        outcomes = {"same element": 0, "other": 0}
        errors: dict[str, int] = {}
        for (path, i), selector in zip(sample, selectors, strict=True):
            start = time.perf_counter()
            try:
                res = resolve(selector, index)
            except CodeprmError as err:
                times.append(time.perf_counter() - start)
                errors[err.name] = errors.get(err.name, 0) + 1
                continue
            times.append(time.perf_counter() - start)
            same = res.path == path and res.symbol_id == indexed(index, path).symbol_ids[i]
            outcomes["same element" if same else "other"] += 1
        times.sort()
        print(
            f"resolve {len(times)} symbol selectors: total {sum(times):.3f} s, "
            f"mean {statistics.mean(times) * 1e6:.0f} us, p50 {times[len(times) // 2] * 1e6:.0f} us, "
            f"p95 {times[int(len(times) * 0.95)] * 1e6:.0f} us, max {times[-1] * 1e3:.2f} ms "
            f"(name index built once in {warm_s * 1e3:.1f} ms)"
        )
        print(f"  outcomes: {outcomes}, errors: {errors or 'none'}")

        cold: list[float] = []
        for selector in selectors[:20]:
            _, took = timed(lambda s=selector: resolve(s, WorkspaceIndex(root, scan=False)))
            cold.append(took)
        print(
            f"one-shot (lazy index, as codeprm locate): median {statistics.median(cold) * 1e3:.1f} ms "
            f"per exact symbol selector, from a cold index ({len(cold)} samples)"
        )

        by_size = sorted(index.paths(), key=lambda p: (len(indexed(index, p).text), p))
        _, rebuild_s = timed(lambda: WorkspaceIndex(root))
        _, noop_s = timed(index.refresh)
        print(f"full rebuild: {rebuild_s:.3f} s; no-op refresh (stat only): {noop_s * 1e3:.1f} ms")
        for label, changed in (("median", by_size[len(by_size) // 2]), ("largest", by_size[-1])):
            target = root / changed
            target.write_text(
                target.read_text(encoding="utf-8") + "\n\ndef _bench_added():\n    pass\n",
                encoding="utf-8",
            )
            parses = index.parse_count
            stats, refresh_s = timed(index.refresh)
            if stats.parsed != 1 or index.parse_count != parses + 1:
                raise RuntimeError(f"refresh parsed more than the changed file: {stats}")
            size = len(indexed(index, changed).text)
            print(
                f"refresh after one {label} file changed ({changed}, {size:,} chars): "
                f"{refresh_s * 1e3:.1f} ms ({stats.read} read, {stats.parsed} parsed); "
                f"rebuild / refresh = {rebuild_s / refresh_s:.0f}x"
            )


if __name__ == "__main__":
    main()
