"""The reward service: samples in, step rewards out, every sample bounded in time.

What every trainer-facing front door (``codeprm serve``, the verl/TRL/SkyRL adapters, Ray
actors) shares: a sample names its workspace (``integrations.contract``), the
``WorkspaceCache`` materialises that commit, a warm bench per materialised tree scores
the edit as ``codeprm step`` would (same bundle, same reward), and the outcome is typed.

A sample never stalls a batch: each is scored on a worker thread and waited for at most
``sample_timeout`` seconds (no signals: they do not work in threaded Ray actors). A
sample that fails gets the documented reward of its failure kind (``FAILURE_REWARDS``,
overridable), never an exception in the trainer:

    no-edit   the completion holds no edit (contract rule)             0.0  (as a no-op)
    invalid   the edit is malformed or does not apply to the commit   -0.5  (one error's worth)
    bad-sample the sample's metadata is malformed (the trainer's data)   0.0
    denied    the repository is not on the allow-list                  0.0
    not-found the commit (or repository) does not exist               0.0
    timeout   scoring took longer than sample_timeout                  0.0
    error     anything else (a crashed server, ...)                    0.0

Only ``invalid`` is negative: an agent that emits a broken diff made a bad step, while
the other failures are not the agent's doing and must not teach it anything.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from codeprm.analysis.stages import STAGES
from codeprm.errors import (
    ApplyConflictError,
    CodeprmError,
    ContentModifiedError,
    NotFoundError,
    UsageError,
)
from codeprm.integrations.contract import Sample, extract_edit
from codeprm.workspace.cache import RepoDeniedError, WorkspaceCache

FAILURE_REWARDS: dict[str, float] = {
    "no-edit": 0.0,
    "invalid": -0.5,
    "bad-sample": 0.0,
    "denied": 0.0,
    "not-found": 0.0,
    "timeout": 0.0,
    "error": 0.0,
}
STATUSES = ("ok", *FAILURE_REWARDS)
#: the stages a sample's time is split into, in the order they happen: waiting for a
#: worker thread, getting a warm bench of its commit (materialising the tree and starting
#: a language server when cold), then the step's own (``analysis.stages``)
STAGE_NAMES = ("queue", "workspace", *STAGES)
#: the upper bounds (seconds) of the stage-time histogram's buckets
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
#: seconds a fresh bench's first use waits for another's to finish (see ``_bench``)
FIRST_USE_WAIT = 5.0


class Bench(Protocol):
    """A warm scorer of one materialised tree (a Workbench's ``step``)."""

    def step(self, edit: str, task: str) -> dict[str, Any]: ...

    def start_episode(self) -> Any: ...

    def advance(self, episode: Any, edit: str, task: str) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What became of one sample: its status, its reward and (when scored) its bundle."""

    status: str
    reward: float
    bundle: dict[str, Any] | None = None
    error: str | None = None
    seconds: float = 0.0
    #: seconds per stage (``STAGE_NAMES``): the service's own (waiting for a worker, getting
    #: a warm bench) and the step's (``analysis.stages``, from the bundle's meta)
    stages: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": self.status,
            "reward": self.reward,
            "seconds": round(self.seconds, 3),
        }
        if self.stages:
            out["stages"] = {k: round(v, 6) for k, v in sorted(self.stages.items())}
        if self.error is not None:
            out["error"] = self.error
        if self.bundle is not None:
            out["bundle"] = self.bundle
        return out


def _where(err: BaseException) -> str:
    """Where an unexpected exception was raised (its innermost frame), for the report."""
    import traceback

    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"


@dataclass
class _Held:
    bench: Bench
    lock: threading.Lock
    stack: contextlib.ExitStack
    closed: bool = False
    warm: bool = False  # a step has completed on it


@dataclass
class _Open:
    """An open episode: its state, its sample, and when it was last used."""

    episode: Any
    sample: Sample
    lock: threading.Lock
    used: float


@dataclass
class Histogram:
    """A Prometheus histogram's state: cumulative counts per bucket, the sum and count."""

    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.counts[i] += 1
        self.total += seconds
        self.n += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out = [
            f'{name}_bucket{{{labels},le="{bound:g}"}} {count}'
            for bound, count in zip(BUCKETS, self.counts, strict=True)
        ]
        return [
            *out,
            f'{name}_bucket{{{labels},le="+Inf"}} {self.n}',
            f"{name}_sum{{{labels}}} {self.total:.6f}",
            f"{name}_count{{{labels}}} {self.n}",
        ]


@dataclass
class Metrics:
    """Counters the metrics endpoint exposes (Prometheus text format): samples by outcome,
    and a histogram of seconds per stage (``STAGE_NAMES``, and ``total``: each sample's
    whole time, whatever its outcome)."""

    samples: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    stages: dict[str, Histogram] = field(
        default_factory=lambda: {s: Histogram() for s in (*STAGE_NAMES, "total")}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.samples[outcome.status] += 1
            self.seconds += outcome.seconds
            self.stages["total"].observe(outcome.seconds)
            for stage, seconds in outcome.stages.items():
                self.stages.setdefault(stage, Histogram()).observe(seconds)

    def text(self, benches: int) -> str:
        with self.lock:
            lines = [
                "# HELP codeprm_samples_total Samples scored, by outcome.",
                "# TYPE codeprm_samples_total counter",
                *(f'codeprm_samples_total{{status="{s}"}} {self.samples[s]}' for s in STATUSES),
                "# HELP codeprm_sample_seconds_total Seconds spent scoring samples.",
                "# TYPE codeprm_sample_seconds_total counter",
                f"codeprm_sample_seconds_total {self.seconds:.6f}",
                "# HELP codeprm_warm_benches Warm workspaces held.",
                "# TYPE codeprm_warm_benches gauge",
                f"codeprm_warm_benches {benches}",
                "# HELP codeprm_stage_seconds Seconds a sample spent per stage (total: all of it).",
                "# TYPE codeprm_stage_seconds histogram",
                *(
                    line
                    for stage, hist in self.stages.items()
                    for line in hist.lines("codeprm_stage_seconds", f'stage="{stage}"')
                ),
            ]
        return "\n".join(lines) + "\n"


class RewardService:
    """Scores samples against cached workspaces with a bounded pool of warm benches."""

    def __init__(
        self,
        cache: WorkspaceCache,
        bench_factory: Callable[[Path], Bench],
        *,
        sample_timeout: float = 120.0,
        failure_rewards: Mapping[str, float] | None = None,
        max_benches: int = 4,
        workers: int = 4,
        max_episodes: int = 1024,
        episode_ttl: float = 3600.0,
    ) -> None:
        unknown = set(failure_rewards or {}) - set(FAILURE_REWARDS)
        if unknown:
            raise UsageError(
                f"unknown failure kind(s): {', '.join(sorted(unknown))} (known: "
                f"{', '.join(FAILURE_REWARDS)})"
            )
        if sample_timeout <= 0 or max_benches < 1 or workers < 1:
            raise UsageError(
                "the reward service needs sample_timeout > 0, max_benches >= 1 and workers >= 1"
            )
        self.cache = cache
        self.bench_factory = bench_factory
        self.sample_timeout = sample_timeout
        self.failure_rewards = {**FAILURE_REWARDS, **(failure_rewards or {})}
        self.max_benches = max_benches
        self.metrics = Metrics()
        self._benches: OrderedDict[tuple[str, str], list[_Held]] = OrderedDict()
        self._pool_lock = threading.Lock()
        self._creating = 0
        self._first_use = threading.Lock()
        self.max_episodes = max_episodes
        self.episode_ttl = episode_ttl
        self._episodes: dict[str, _Open] = {}
        self._episodes_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="codeprm-reward"
        )

    # -- scoring ------------------------------------------------------------------

    def score(self, samples: Sequence[tuple[Sample, str | None]]) -> list[Outcome]:
        """Score ``(sample, completion)`` pairs; the completion is read only when the
        sample carries no edit. Every sample gets an Outcome within its timeout."""
        started = time.monotonic()
        futures = [self._executor.submit(self._one, s, c, started) for s, c in samples]
        out = []
        for future in futures:
            remaining = self.sample_timeout - (time.monotonic() - started)
            try:
                outcome = future.result(timeout=max(remaining, 0.0))
            except FutureTimeout:
                outcome = self._failure(
                    "timeout",
                    f"scoring took longer than {self.sample_timeout:g} s",
                    time.monotonic() - started,
                )
            self.metrics.add(outcome)
            out.append(outcome)
        return out

    # -- episodes: multi-turn trajectories, one reward per turn ----------------------

    def _bounded(self, func: Callable[[], Outcome]) -> Outcome:
        started = time.monotonic()
        future = self._executor.submit(func)
        try:
            outcome = future.result(timeout=self.sample_timeout)
        except FutureTimeout:
            outcome = self._failure(
                "timeout",
                f"scoring took longer than {self.sample_timeout:g} s",
                time.monotonic() - started,
            )
        self.metrics.add(outcome)
        return outcome

    def start_episode(self, sample: Sample) -> tuple[str | None, Outcome]:
        """Open an episode at the sample's commit: its id (None when it failed) and the
        outcome (reward 0: nothing happened yet; the state's counts in ``bundle``)."""
        import secrets

        episode_id = secrets.token_hex(12)

        def run() -> Outcome:
            t0 = time.monotonic()
            try:
                with self._bench(sample.repo, sample.commit) as bench:
                    episode = bench.start_episode()
            except Exception as err:
                return self._classify(err, t0)
            with self._episodes_lock:
                self._expire()
                self._episodes[episode_id] = _Open(
                    episode, sample, threading.Lock(), time.monotonic()
                )
            return Outcome("ok", 0.0, None, None, time.monotonic() - t0)

        outcome = self._bounded(run)
        return (episode_id if outcome.status == "ok" else None), outcome

    def advance_episode(
        self, episode_id: str, edit: str | None, completion: str | None = None
    ) -> Outcome:
        """Score one turn of an open episode and move it on."""
        with self._episodes_lock:
            open_ = self._episodes.get(episode_id)
            if open_ is not None:
                open_.used = time.monotonic()
        if open_ is None:
            return self._failure(
                "not-found", f"no open episode {episode_id!r} (closed, or idle past its ttl)", 0.0
            )
        text = edit if edit is not None else extract_edit(completion or "")
        if text is None:
            return self._failure("no-edit", "the completion holds no edit", 0.0)

        def run() -> Outcome:
            t0 = time.monotonic()
            stages: dict[str, float] = {}
            try:
                with open_.lock, self._bench(open_.sample.repo, open_.sample.commit) as bench:
                    stages["workspace"] = time.monotonic() - t0
                    bundle = bench.advance(open_.episode, text, open_.sample.task)
            except Exception as err:
                return dataclasses.replace(self._classify(err, t0), stages=stages)
            return self._scored(bundle, t0, stages)

        return self._bounded(run)

    def close_episode(self, episode_id: str) -> bool:
        with self._episodes_lock:
            return self._episodes.pop(episode_id, None) is not None

    def episodes(self) -> int:
        with self._episodes_lock:
            return len(self._episodes)

    def _expire(self) -> None:
        """Drop episodes idle past the ttl, then the oldest past the cap (lock held)."""
        now = time.monotonic()
        for key in [k for k, v in self._episodes.items() if now - v.used > self.episode_ttl]:
            del self._episodes[key]
        while len(self._episodes) >= self.max_episodes:
            del self._episodes[min(self._episodes, key=lambda k: self._episodes[k].used)]

    def _classify(self, err: BaseException, t0: float) -> Outcome:
        seconds = time.monotonic() - t0
        if isinstance(err, RepoDeniedError):
            return self._failure("denied", err.one_line(), seconds)
        if isinstance(err, NotFoundError):
            return self._failure("not-found", err.one_line(), seconds)
        if isinstance(err, (UsageError, ApplyConflictError, ContentModifiedError)):
            return self._failure("invalid", err.one_line(), seconds)
        if isinstance(err, CodeprmError):
            return self._failure("error", err.one_line(), seconds)
        return self._failure(
            "error", f"internal error: {type(err).__name__}: {err}{_where(err)}", seconds
        )

    def _failure(
        self, status: str, error: str, seconds: float, stages: Mapping[str, float] | None = None
    ) -> Outcome:
        return Outcome(status, self.failure_rewards[status], None, error, seconds, stages or {})

    @staticmethod
    def _scored(bundle: dict[str, Any], t0: float, stages: dict[str, float]) -> Outcome:
        """An ok outcome; its stages are the service's and the step's (the bundle's meta)."""
        step = bundle.get("meta", {}).get("stagesMs", {})
        stages.update({k: float(v) / 1000 for k, v in step.items()})
        return Outcome(
            "ok",
            float(bundle["processReward"]["total"]),
            bundle,
            None,
            time.monotonic() - t0,
            stages,
        )

    def _one(
        self, sample: Sample, completion: str | None, submitted: float | None = None
    ) -> Outcome:
        t0 = time.monotonic()
        stages = {"queue": t0 - submitted} if submitted is not None else {}
        edit = sample.edit if sample.edit is not None else extract_edit(completion or "")
        if edit is None:
            return self._failure(
                "no-edit", "the completion holds no edit", time.monotonic() - t0, stages
            )
        try:
            with self._bench(sample.repo, sample.commit) as bench:
                stages["workspace"] = time.monotonic() - t0
                bundle = bench.step(edit, sample.task)
        except Exception as err:
            outcome = self._classify(err, t0)
            return dataclasses.replace(outcome, stages=stages)
        return self._scored(bundle, t0, stages)

    @contextlib.contextmanager
    def _bench(self, repo: str, commit: str) -> Iterator[Bench]:
        """A warm bench of (repo, commit), held for one sample. A bench's session is not
        re-entrant, so samples of one commit (GRPO's n completions of one prompt) get
        several benches of it, up to ``max_benches`` in all; beyond that a sample waits
        for one of its commit (within its timeout), and only a commit with no bench yet
        makes room by closing another commit's idle one."""
        norm = self.cache.check(repo)
        key = (norm, commit)
        held: _Held | None = None
        while held is None:
            create, wait_on = False, None
            with self._pool_lock:
                for h in self._benches.get(key, []):
                    if h.lock.acquire(blocking=False):
                        held = h
                        break
                if held is None:
                    # room for another bench; or, when this commit has none yet, the room of
                    # another commit's idle one. A commit that has a (busy) bench waits for
                    # it rather than evicting another commit's warm one (a cold start there)
                    own = bool(self._benches.get(key))
                    create = self._count() + self._creating < self.max_benches or (
                        not own and self._drop_idle()
                    )
                    if create:
                        self._creating += 1
                    else:
                        wait_on = next(iter(self._benches.get(key, [])), None)
            if held is not None:
                break
            if create:
                try:
                    held = self._make(norm, commit)
                finally:
                    with self._pool_lock:
                        self._creating -= 1
                        if held is not None:
                            self._benches.setdefault(key, []).append(held)
            elif wait_on is not None:
                wait_on.lock.acquire()
                if wait_on.closed:  # dropped while we waited
                    wait_on.lock.release()
                else:
                    held = wait_on
            else:  # every bench is busy with other commits: wait for one to come free
                time.sleep(0.05)
        try:
            if held.warm:
                yield held.bench
            else:
                # A fresh bench's first use initialises process-wide lazy state (imports,
                # parsers, protocol converters) that is not safe to race: twice seen as
                # "dictionary changed size during iteration" when benches started at once
                # (cause not found yet; the report now names the frame). First uses go one
                # at a time, but a sample waits at most FIRST_USE_WAIT seconds for another's,
                # so a hung first step never stalls the batch.
                first = self._first_use.acquire(timeout=FIRST_USE_WAIT)
                try:
                    yield held.bench
                finally:
                    if first:
                        self._first_use.release()
                held.warm = True
        finally:
            held.lock.release()
            with self._pool_lock:
                if key in self._benches:
                    self._benches.move_to_end(key)

    def _make(self, norm: str, commit: str) -> _Held:
        """A new bench over the cached tree, its lock already taken."""
        stack = contextlib.ExitStack()
        try:
            tree = stack.enter_context(self.cache.tree(norm, commit))
            bench = self.bench_factory(tree.path)
            stack.callback(bench.close)
        except BaseException:
            stack.close()
            raise
        held = _Held(bench, threading.Lock(), stack)
        held.lock.acquire()
        return held

    def _count(self) -> int:
        return sum(len(v) for v in self._benches.values())

    def _drop_idle(self) -> bool:
        """Close the least recently used idle bench (the pool lock is held); False: none idle."""
        for key in list(self._benches):
            for h in self._benches[key]:
                if h.lock.acquire(blocking=False):
                    self._benches[key].remove(h)
                    if not self._benches[key]:
                        del self._benches[key]
                    h.closed = True
                    try:
                        h.stack.close()
                    finally:
                        h.lock.release()
                    return True
        return False

    def benches(self) -> int:
        with self._pool_lock:
            return self._count()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._pool_lock:
            held = [h for hs in self._benches.values() for h in hs]
            self._benches = OrderedDict()
        for h in held:
            h.closed = True
            with contextlib.suppress(Exception):
                h.stack.close()


@dataclass
class StepBench:
    """The default bench: a ``Workbench`` over one materialised tree, scoring as ``codeprm
    step`` does (the same engine, so the same bundle and reward as the CLI gives there)."""

    root: Path
    scorer: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = 60.0

    def __post_init__(self) -> None:
        from codeprm.workbench import Workbench

        self._bench = Workbench(root=self.root, timeout=self.timeout)

    def step(self, edit: str, task: str) -> dict[str, Any]:
        return self._bench.step(edit, scorer=self.scorer, task=task, **dict(self.options)).bundle

    def start_episode(self) -> Any:
        return self._bench.start_episode(**dict(self.options))

    def advance(self, episode: Any, edit: str, task: str) -> dict[str, Any]:
        return self._bench.advance(
            episode, edit, scorer=self.scorer, task=task, **dict(self.options)
        )

    def close(self) -> None:
        self._bench.close()
