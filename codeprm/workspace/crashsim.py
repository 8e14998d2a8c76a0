"""Fault-injection harness for the write protocol: kill applies mid-way, recover, check atomicity.

Used by the test suite and ``benchmarks/crash_apply.py``; production code never imports it.
A workspace toggles between two full states A and B that differ in every file (modify,
create in a new directory, delete, rename with mode kept, CRLF, UTF-8 BOM, UTF-16, an
executable, a large file). A child process applies A->B (or B->A) and is SIGKILLed at
the k-th protocol step (``CODEPRM_FAULT_AT``) or by a timer while it is slowed down
(``CODEPRM_FAULT_DELAY``); sometimes the recovery is killed too. Then ``recover`` runs
and the whole tree (bytes, modes, directories) must be exactly A or exactly B, with no
journal left. A child that finished must have produced the new state.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from codeprm.workspace.edits import FileEdit, WorkspaceChange
from codeprm.workspace.jail import STATE_DIR
from codeprm.workspace.textcodec import FileCodec
from codeprm.workspace.transaction import CONFLICTS, FAULT_AT_ENV, FAULT_DELAY_ENV, JOURNAL

StateName = Literal["A", "B"]
Outcome = Literal["old", "new", "broken"]

_BOM8 = FileCodec("utf-8", b"\xef\xbb\xbf")
_U16 = FileCodec("utf-16-le", b"\xff\xfe")
_PLAIN = FileCodec()
_BIG_A = "".join(f"line {i} of a large file\n" for i in range(20000))
_BIG_B = _BIG_A.replace("7 of a", "7 OF A")

# path -> (text, codec, mode or None for "the default for new files")
_Spec = dict[str, tuple[str, FileCodec, int | None]]
STATES: dict[StateName, _Spec] = {
    "A": {
        "src/app.py": ("def main():\n    return 1\n", _PLAIN, 0o644),
        "crlf.txt": ("one\r\ntwo\r\nthree\r\n", _PLAIN, 0o644),
        "bom.txt": ("héllo\nwörld\n", _BOM8, 0o644),
        "wide.txt": ("🙂 astral\nbmp ü\n", _U16, 0o644),
        "run.sh": ("#!/bin/sh\necho a\n", _PLAIN, 0o755),
        "only_a.txt": ("deleted in B\n", _PLAIN, 0o644),
        "old_name.py": ("X = 1\n", _PLAIN, 0o750),
        "big.txt": (_BIG_A, _PLAIN, 0o644),
    },
    "B": {
        "src/app.py": ("def main():\n    return 2\n", _PLAIN, 0o644),
        "crlf.txt": ("one\r\n2\r\nthree\r\n", _PLAIN, 0o644),
        "bom.txt": ("héllo\nWÖRLD\n", _BOM8, 0o644),
        "wide.txt": ("🙃 astral\nbmp ü\n", _U16, 0o644),
        "run.sh": ("#!/bin/sh\necho b\n", _PLAIN, 0o755),
        "only_b/deep/new.txt": ("created in B\n", _PLAIN, None),
        "pkg/new_name.py": ("X = 2\n", _PLAIN, 0o750),
        "big.txt": (_BIG_B, _PLAIN, 0o644),
    },
}
_RENAMES: dict[tuple[StateName, StateName], tuple[str, str]] = {
    ("A", "B"): ("old_name.py", "pkg/new_name.py"),
    ("B", "A"): ("pkg/new_name.py", "old_name.py"),
}


def other(state: StateName) -> StateName:
    return "B" if state == "A" else "A"


def change_between(src: StateName, dst: StateName) -> WorkspaceChange:
    """The WorkspaceChange turning state ``src`` into ``dst`` (with its rename)."""
    a, b = STATES[src], STATES[dst]
    old_rn, new_rn = _RENAMES[(src, dst)]
    edits = []
    for path in sorted(set(a) | set(b)):
        before = a[path][0] if path in a else None
        after = b[path][0] if path in b else None
        edits.append(FileEdit(path, before, after, old_rn if path == new_rn else None))
    return WorkspaceChange.of(edits)


def default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def expected_tree(state: StateName) -> dict[str, tuple[bytes, int] | None]:
    """path -> (bytes, mode) for files, None for directories, as state ``state`` has them."""
    tree: dict[str, tuple[bytes, int] | None] = {}
    for path, (text, codec, mode) in STATES[state].items():
        tree[path] = (codec.encode(text), default_mode() if mode is None else mode)
        parts = path.split("/")
        for i in range(1, len(parts)):
            tree["/".join(parts[:i]) + "/"] = None
    return tree


def actual_tree(root: Path) -> dict[str, tuple[bytes, int] | None]:
    """The tree under ``root`` in the form of ``expected_tree`` (.git and .codeprm left out)."""
    tree: dict[str, tuple[bytes, int] | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        dirnames[:] = [d for d in dirnames if not (base == root and d in (".git", STATE_DIR))]
        for d in dirnames:
            tree[(base / d).relative_to(root).as_posix() + "/"] = None
        for name in filenames:
            full = base / name
            tree[full.relative_to(root).as_posix()] = (
                full.read_bytes(),
                full.stat().st_mode & 0o7777,
            )
    return tree


def make_workspace(root: Path, *, git: bool = True) -> None:
    """Write state A into the empty directory ``root`` (and commit it in a new git repo)."""
    for path, spec in expected_tree("A").items():
        full = root / path
        if spec is None:
            full.mkdir(parents=True, exist_ok=True)
            continue
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(spec[0])
        os.chmod(full, spec[1])
    if git:
        import git as gitpython

        repo = gitpython.Repo.init(root)
        with repo.config_writer() as cfg:
            cfg.set_value("user", "name", "crashsim")
            cfg.set_value("user", "email", "crashsim@example.invalid")
        repo.git.add("-A")
        repo.git.commit("-qm", "state A")
        repo.close()


def state_of(root: Path) -> StateName | None:
    tree = actual_tree(root)
    for name in ("A", "B"):
        if tree == expected_tree(name):  # type: ignore[arg-type]
            return name  # type: ignore[return-value]
    return None


# -- the child process ----------------------------------------------------------------------


def child_main(argv: list[str]) -> None:
    """Entry of the child: ``apply ROOT SRC DST`` | ``recover ROOT`` | ``loop ROOT``."""
    from codeprm.workspace.apply import ApplyOptions, apply_change
    from codeprm.workspace.transaction import recover, steps_taken

    options = ApplyOptions(allow_dirty=True)
    op, root = argv[0], Path(argv[1])
    if op == "apply":
        src: StateName = "A" if argv[2] == "A" else "B"
        apply_change(root, change_between(src, other(src)), options=options)
        print(steps_taken(), flush=True)
    elif op == "recover":
        recover(root)
    elif op == "loop":
        recover(root)
        current = state_of(root)
        if current is None:
            raise SystemExit("workspace is in neither state")
        print("ready", flush=True)
        while True:
            apply_change(root, change_between(current, other(current)), options=options)
            current = other(current)


def _spawn(args: list[str], env_extra: dict[str, str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in (FAULT_AT_ENV, FAULT_DELAY_ENV)}
    env.update(env_extra)
    code = "import sys; from codeprm.workspace.crashsim import child_main; child_main(sys.argv[1:])"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# -- trials ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trial:
    """One trial: how it was killed and what recovery left."""

    kind: Literal["step", "timer"]
    kill_at: int | float
    recovery_kill_at: int | None
    killed: bool
    outcome: Outcome
    detail: str = ""


def count_steps(root: Path, src: StateName) -> int:
    """Protocol steps of one clean apply ``src`` -> other (run in a child, then undone)."""
    child = _spawn(["apply", str(root), src, other(src)], {})
    out, err = child.communicate(timeout=60)
    if child.returncode != 0:
        raise RuntimeError(f"clean apply failed: {err}")
    back = _spawn(["apply", str(root), other(src), src], {})
    _, err = back.communicate(timeout=60)
    if back.returncode != 0:
        raise RuntimeError(f"clean apply back failed: {err}")
    return int(out.strip())


def _judge(root: Path, before: StateName, finished: bool) -> tuple[Outcome, str]:
    from codeprm.workspace.transaction import recover

    report = recover(root)
    leftovers = sorted(os.listdir(root / JOURNAL)) if (root / JOURNAL).is_dir() else []
    if leftovers or (root / CONFLICTS).exists():
        return "broken", f"journal left: {leftovers}, conflicts: {report.conflicts}"
    state = state_of(root)
    if state is None:
        return "broken", "tree is neither the old nor the new state"
    outcome: Outcome = "old" if state == before else "new"
    if finished and outcome != "new":
        return "broken", "the apply finished but the tree is old"
    return outcome, ""


def step_trial(root: Path, kill_at: int, *, recovery_kill_at: int | None = None) -> Trial:
    """Apply the current state -> other, SIGKILLed at step ``kill_at``; maybe kill recovery too."""
    before = state_of(root)
    if before is None:
        return Trial("step", kill_at, recovery_kill_at, False, "broken", "bad start state")
    child = _spawn(["apply", str(root), before, other(before)], {FAULT_AT_ENV: str(kill_at)})
    _, err = child.communicate(timeout=60)
    killed = child.returncode == -signal.SIGKILL
    if not killed and child.returncode != 0:
        return Trial(
            "step", kill_at, recovery_kill_at, False, "broken", f"child failed: {err[-500:]}"
        )
    if recovery_kill_at is not None:
        rec = _spawn(["recover", str(root)], {FAULT_AT_ENV: str(recovery_kill_at)})
        rec.communicate(timeout=60)
    outcome, detail = _judge(root, before, finished=not killed)
    return Trial("step", kill_at, recovery_kill_at, killed, outcome, detail)


def timer_trial(root: Path, delay_s: float, *, step_delay_s: float = 0.002) -> Trial:
    """A child toggles A<->B in a loop, slowed at each step; SIGKILL it ``delay_s`` after it
    starts."""
    before = state_of(root)
    if before is None:
        return Trial("timer", delay_s, None, False, "broken", "bad start state")
    child = _spawn(["loop", str(root)], {FAULT_DELAY_ENV: str(step_delay_s)})
    assert child.stdout is not None
    ready = child.stdout.readline().strip()
    if ready != "ready":
        child.kill()
        _, err = child.communicate()
        return Trial("timer", delay_s, None, False, "broken", f"child did not start: {err[-500:]}")
    time.sleep(delay_s)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=60)
    outcome, detail = _judge(root, before, finished=False)
    # Several transactions may have completed: "old"/"new" is relative to the start state.
    return Trial("timer", delay_s, None, True, outcome, detail)


def run_trials(
    root: Path,
    *,
    step_trials: int,
    timer_trials: int,
    seed: int = 0,
    recovery_kill_rate: float = 0.25,
    first_points: list[int] | None = None,
    progress: Callable[[Trial], None] | None = None,
) -> list[Trial]:
    """Run trials on the workspace ``root`` (made by ``make_workspace``), one after another.

    Step trials first kill at each of ``first_points`` (default: every step 1..N once),
    then at k drawn from 1..N+1 (N+1 lets the apply finish).
    """
    rng = random.Random(seed)
    steps = count_steps(root, "A")
    points = list(range(1, steps + 1)) if first_points is None else first_points
    trials = []
    for i in range(step_trials):
        k = points[i] if i < len(points) else rng.randint(1, steps + 1)
        rk = rng.randint(1, 12) if rng.random() < recovery_kill_rate else None
        trials.append(step_trial(root, k, recovery_kill_at=rk))
        if progress:
            progress(trials[-1])
    for _ in range(timer_trials):
        trials.append(timer_trial(root, rng.uniform(0.0, 0.35)))
        if progress:
            progress(trials[-1])
    return trials


def run_parallel(
    base: Path,
    *,
    workers: int,
    step_trials: int,
    timer_trials: int,
    seed: int = 0,
    progress: Callable[[Trial], None] | None = None,
) -> list[Trial]:
    """``run_trials`` split over ``workers`` workspaces under ``base`` (threads driving children).

    Together the workers still kill every protocol step at least once.
    """
    from concurrent.futures import ThreadPoolExecutor

    roots = []
    for w in range(workers):
        root = base / f"ws{w}"
        root.mkdir(parents=True)
        make_workspace(root)
        roots.append(root)
    steps = count_steps(roots[0], "A")
    every = list(range(1, steps + 1))

    def work(w: int) -> list[Trial]:
        share = step_trials // workers + (1 if w < step_trials % workers else 0)
        timers = timer_trials // workers + (1 if w < timer_trials % workers else 0)
        return run_trials(
            roots[w],
            step_trials=share,
            timer_trials=timers,
            seed=seed * 1000 + w,
            first_points=every[w::workers],
            progress=progress,
        )

    with ThreadPoolExecutor(workers) as pool:
        return [t for part in pool.map(work, range(workers)) for t in part]
