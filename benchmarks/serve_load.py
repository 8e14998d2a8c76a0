"""The reward server under load: concurrent clients for a while, latency, errors, memory.

Starts ``codeprm serve`` as a subprocess on a real repository (a git directory, bare or
not; default: the pallets/click mirror) and runs ``--clients`` threads that each send
one-sample ``/v1/score`` requests for ``--seconds``, cycling through real edits of one
module of that repository (a body edit, an edit that introduces a type error, a docstring
edit, an edit that does not apply). It reports requests sent and answered (none may be
lost), p50/p90/p99 latency, throughput, outcomes by status, HTTP errors, and the server's
resident memory (its own process and its children: the language servers), sampled every
few seconds, to show whether it stays flat.

    python benchmarks/serve_load.py [--repo /work/.mirror/pallets+click/repo] \\
        [--clients 8] [--seconds 120] [--prm none]

Absolute times depend on the machine (a loaded 2-core box is slow); the numbers that
matter are lost = 0, errors = 0, and memory at the end against memory after warm-up.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path


def rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, KiB."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():  # children of every thread
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def edits(repo: str, commit: str, path: str) -> list[str]:
    text = subprocess.run(
        ["git", "--git-dir", repo, "show", f"{commit}:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = text.splitlines(True)

    def diff(new_lines: list[str]) -> str:
        return "".join(difflib.unified_diff(lines, new_lines, f"a/{path}", f"b/{path}"))

    body = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("def ") and lines[i + 1].startswith("    ")
    )
    out = [
        diff([*lines[: body + 1], "    _unused = 1\n", *lines[body + 1 :]]),  # body edit
        diff([*lines[: body + 1], '    _bad: int = "x"\n', *lines[body + 1 :]]),  # a new type error
        diff([*lines[:1], "# touched\n", *lines[1:]]),  # a comment
    ]
    out.append(out[0].replace(lines[body + 1], "    this line is not there\n", 1))  # does not apply
    return out


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repo", default="/work/.mirror/pallets+click/repo")
    ap.add_argument("--path", default="src/click/utils.py")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--prm", default="none")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--max-benches", type=int, default=2)
    args = ap.parse_args()

    commit = subprocess.run(
        ["git", "--git-dir", args.repo, "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    samples = [
        {"workspace": {"repo": args.repo, "commit": commit}, "edit": e}
        for e in edits(args.repo, commit, args.path)
    ]
    cache = tempfile.mkdtemp(prefix="codeprm-serve-load-")
    env = {**os.environ, "CODEPRM_CACHE": cache}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "codeprm",
            "serve",
            "--allow",
            args.repo,
            "--port",
            "0",
            "--prm",
            args.prm,
            "--exec",
            "none",
            "--workers",
            str(args.workers),
            "--max-benches",
            str(args.max_benches),
            "--sample-timeout",
            "120",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    port = int(proc.stderr.readline().rsplit(":", 1)[1])
    url = f"http://127.0.0.1:{port}/v1/score"

    def post(sample: dict) -> tuple[int, dict]:
        req = urllib.request.Request(
            url, data=json.dumps({"samples": [sample]}).encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=300) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, {}

    t0 = time.monotonic()
    for s in samples:  # warm-up: the first request starts the language server
        post(s)
    warm = time.monotonic() - t0
    rss_warm = rss_kib(proc.pid)

    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    http_errors: Counter[int] = Counter()
    sent = answered = 0
    lock = threading.Lock()
    memory: list[tuple[float, int]] = []
    stop = time.monotonic() + args.seconds

    def client(k: int) -> None:
        nonlocal sent, answered
        i = k
        while time.monotonic() < stop:
            sample = samples[i % len(samples)]
            i += 1
            with lock:
                sent += 1
            started = time.monotonic()
            code, body = post(sample)
            took = time.monotonic() - started
            with lock:
                if code == 200 and len(body.get("results", [])) == 1:
                    answered += 1
                    latencies.append(took)
                    statuses[body["results"][0]["status"]] += 1
                else:
                    http_errors[code] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        memory.append((time.monotonic() - began, rss_kib(proc.pid)))
        time.sleep(5)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    rss_end = rss_kib(proc.pid)
    proc.terminate()
    proc.wait(timeout=60)

    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    print(
        f"codeprm serve under load: {args.clients} clients x {args.seconds:g} s, {len(samples)} edits of {args.path} @ {commit[:12]}"
    )
    print(f"  warm-up (first requests, server start): {warm:.1f} s")
    print(
        f"  sent {sent}, answered {answered}, lost {sent - answered - sum(http_errors.values())}, HTTP errors {dict(http_errors)}"
    )
    print(f"  outcomes: {dict(statuses)}")
    print(f"  throughput: {answered / elapsed:.2f} samples/s")
    print(
        f"  latency: p50 {q[49] * 1000:.0f} ms, p90 {q[89] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    print(
        f"  memory (server + language servers): after warm-up {rss_warm / 1024:.0f} MiB, end {rss_end / 1024:.0f} MiB "
        f"(ratio {rss_end / max(rss_warm, 1):.2f}); samples: "
        + ", ".join(f"{t:.0f}s:{m / 1024:.0f}" for t, m in memory[:: max(1, len(memory) // 8)])
    )
    return 0 if sent == answered and not http_errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
