"""Pack what a lent GPU machine needs for the PRM's GPU measurements into .gpu/ (ignored).

The GPU machine reaches no network and takes at most 64 MiB per call (the working tree
included), so everything travels from here in two calls:

  .gpu/part1/   the first bytes of the SmolLM2 GGUF file
  .gpu/part2/   the rest of it, the gguf wheel (pure Python), and the evaluation sets of
                benchmarks/prm_quality.py with their language-server rewards (computed here,
                where basedpyright runs)

benchmarks/gpu/run.sh joins and verifies the GGUF on the device (the sha256 pinned in
codeprm.prm.fetch) and converts it there, so the device scores exactly the weights used here.

Usage: python benchmarks/gpu/prep.py [--train-files 1500] [--bugs 50] [--cal-bugs 60]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".gpu"
MIB = 1024 * 1024
#: what one call may carry, the working tree included (device README: 64 MiB), less a margin
CALL_LIMIT = 62 * MIB


def tree_size() -> int:
    """Bytes of the tracked and untracked-not-ignored files: what travels with every call."""
    names = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    return sum(
        (ROOT / n.decode()).stat().st_size for n in names if n and (ROOT / n.decode()).is_file()
    )


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-files", type=int, default=1500, help="stdlib files mined for training")
    ap.add_argument("--bugs", type=int, default=50)
    ap.add_argument("--cal-bugs", type=int, default=60)
    args = ap.parse_args()

    from codeprm.prm.fetch import GGUF_SHA256, locate_gguf, sha256_file

    if OUT.exists():
        shutil.rmtree(OUT)
    part1, part2 = OUT / "part1", OUT / "part2"
    part1.mkdir(parents=True)
    part2.mkdir()

    # the sets first: their size decides how the GGUF is split
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "prm_quality.py"),
            "--bugs", str(args.bugs),
            "--cal-bugs", str(args.cal_bugs),
            "--train-files", str(args.train_files),
            "--write-sets", str(part2 / "sets"),
            "--sets-only",
        ],
        check=True,
    )  # fmt: skip
    version = subprocess.run(
        [sys.executable, "-c", "import importlib.metadata as m; print(m.version('gguf'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
            "--python-version", "3.12", "--implementation", "cp",
            "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
            "-d", str(part2 / "wheels"), f"gguf=={version}",
        ],
        check=True,
    )  # fmt: skip

    gguf = locate_gguf()
    if sha256_file(gguf) != GGUF_SHA256:
        raise SystemExit(f"{gguf}: sha256 differs from the pinned {GGUF_SHA256}")
    data = gguf.read_bytes()
    tree = tree_size()
    room1 = CALL_LIMIT - tree
    cut = min(len(data), room1)
    (part1 / "smollm2.gguf.1").write_bytes(data[:cut])
    (part2 / "smollm2.gguf.2").write_bytes(data[cut:])
    sizes = {"tree": tree, "part1": size(part1), "part2": size(part2)}
    print(
        f"working tree {tree / MIB:.1f} MiB; call 1 carries {sizes['part1'] / MIB:.1f} MiB, "
        f"call 2 {sizes['part2'] / MIB:.1f} MiB (limit 64 MiB per call with the tree)"
    )
    if tree + sizes["part2"] > CALL_LIMIT:
        raise SystemExit("part2 does not fit one call: lower --train-files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
