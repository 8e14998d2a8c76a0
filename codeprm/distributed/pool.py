"""``RewardPool``: Ray actors that each own a RewardService (warm benches), samples routed
stickily by (repository, commit), crashed actors restarted and their samples retried.

Guarantees of ``score(pairs)``:

* **every sample is answered exactly once, in order.** The pool numbers the samples,
  sends them to actors in chunks (``chunk``, default ``workers``) and fills one slot per
  number; an answer for a slot already filled is dropped. A chunk is answered whole or
  not at all (an actor returns its chunk's outcomes in one reply), so a sample is never
  half-counted. Each actor has at most ``depth`` (2) chunks in flight, so it starts the
  next while the driver reads the last.

* **a crashed actor loses nothing.** When an actor dies (killed, out of memory, its
  process gone) the chunks it held fail with ``RayActorError``; their samples are routed
  again, this time avoiding that actor (its next choice in the key's ranking), while Ray
  restarts it (``max_restarts``) for later batches. Chunks not yet sent to it move too.
  A sample whose chunk fails ``max_retries + 1`` times (a sample that kills every actor
  it meets) gets the ``error`` outcome instead of looping.
* **per-sample timeouts without signals.** Each actor's service bounds each sample on a
  worker thread (``sample_timeout``). As a backstop, a chunk that has not answered within
  ``sample_timeout * ceil(len/workers) + grace`` (a wedged actor) gets ``timeout``
  outcomes and its actor is killed and restarted (its other chunks are retried).

Routing (``routing.assign``): rendezvous hashing over the actors with a bounded load per
batch, so a commit's samples land where its bench is warm and a hot commit spills.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

from codeprm.distributed.actor import PoolConfig, RewardActor, outcome_from_json
from codeprm.distributed.routing import assign, interleave, rank
from codeprm.errors import UsageError
from codeprm.integrations.contract import Sample
from codeprm.integrations.service import FAILURE_REWARDS, Metrics, Outcome
from codeprm.workspace.cache import normalise

Progress = Callable[[int, int], None]


def route_key(sample: Sample) -> str:
    """The routing key of a sample: its normalised repository and its commit."""
    try:
        repo = normalise(sample.repo)
    except UsageError:
        repo = sample.repo
    return f"{repo}\0{sample.commit.lower()}"


class RewardPool:
    """A pool of Ray reward actors; see the module docstring. Same scoring surface as
    ``RewardService`` (``score``, episodes, ``metrics``, ``benches``), so ``codeprm serve
    --ray`` serves it unchanged."""

    def __init__(
        self,
        allow: Iterable[str],
        *,
        actors: int = 2,
        cache_dir: str | Path | None = None,
        address: str | None = None,
        num_cpus: float = 1.0,
        max_restarts: int = 3,
        max_retries: int = 2,
        chunk: int | None = None,
        depth: int = 2,
        grace: float = 60.0,
        spread: bool = True,
        sample_timeout: float = 120.0,
        max_benches: int = 4,
        workers: int = 4,
        max_trees: int = 16,
        max_bytes: int = 8 << 30,
        timeout: float = 60.0,
        prm: str = "none",
        device: str = "cpu",
        options: Mapping[str, Any] | None = None,
        failure_rewards: Mapping[str, float] | None = None,
        ray_init: Mapping[str, Any] | None = None,
    ) -> None:
        if actors < 1 or max_restarts < 0 or max_retries < 0 or (chunk is not None and chunk < 1):
            raise UsageError(
                "a reward pool needs actors >= 1, max_restarts >= 0, max_retries >= 0 "
                "and chunk >= 1"
            )
        unknown = set(failure_rewards or {}) - set(FAILURE_REWARDS)
        if unknown:
            raise UsageError(f"unknown failure kind(s): {', '.join(sorted(unknown))}")
        if cache_dir is None:
            from codeprm.prm.fetch import cache_root

            cache_dir = cache_root() / "workspaces"
        self.config = PoolConfig.of(
            allow,
            cache_dir,
            max_trees=max_trees,
            max_bytes=max_bytes,
            sample_timeout=sample_timeout,
            max_benches=max_benches,
            workers=workers,
            timeout=timeout,
            prm=prm,
            device=device,
            options=options,
            failure_rewards=failure_rewards,
        )
        self.failure_rewards = {**FAILURE_REWARDS, **(failure_rewards or {})}
        self.max_restarts = max_restarts
        self.max_retries = max_retries
        self.chunk = chunk or workers
        self.depth = max(1, depth)
        self._warm: dict[str, set[int]] = {}  # key -> actors that answered it (their bench is warm)
        self.grace = grace
        self.metrics = Metrics()
        self.retried = 0  # samples sent again after their actor failed (observability, tests)
        self._lock = threading.Lock()
        self._deaths: Counter[int] = Counter()
        self._last_death: dict[int, float] = {}
        self._owns_ray = False
        if not ray.is_initialized():
            ray.init(
                address=address,
                include_dashboard=False,
                configure_logging=False,
                **dict(ray_init or {}),
            )
            self._owns_ray = True
        remote = ray.remote(RewardActor).options(  # type: ignore[attr-defined]
            num_cpus=num_cpus,
            max_restarts=max_restarts,
            max_task_retries=0,
            max_concurrency=4,
            scheduling_strategy="SPREAD" if spread else "DEFAULT",
        )
        self.handles: list[Any] = [
            remote.remote(self.config, f"codeprm-reward-{i}") for i in range(actors)
        ]

    # -- the scoring surface ---------------------------------------------------------

    def wait_ready(self, timeout: float = 300.0) -> list[dict[str, Any]]:
        """Wait for every actor to be constructed; their ``info()``."""
        return list(ray.get([h.info.remote() for h in self.handles], timeout=timeout))

    def score(
        self, samples: Sequence[tuple[Sample, str | None]], on_progress: Progress | None = None
    ) -> list[Outcome]:
        """Score ``(sample, completion)`` pairs across the actors: one Outcome per pair,
        in order, each exactly once (see the module docstring)."""
        n = len(samples)
        results: list[Outcome | None] = [None] * n
        keys = [route_key(s) for s, _ in samples]
        tries = [0] * n
        avoid: dict[int, set[int]] = defaultdict(set)
        queued: dict[int, deque[list[int]]] = defaultdict(deque)
        inflight: dict[Any, tuple[int, list[int], float, float]] = {}
        busy: Counter[int] = Counter()
        done = 0

        def answer(i: int, outcome: Outcome) -> None:
            nonlocal done
            if results[i] is None:
                results[i] = outcome
                done += 1
                self.metrics.add(outcome)

        def route(idxs: list[int]) -> None:
            live = self._live()
            if not live:
                for i in idxs:
                    answer(
                        i,
                        self._failure(
                            "error", "no live reward actor (every actor died past max_restarts)"
                        ),
                    )
                return
            fresh = [i for i in idxs if not avoid[i]]
            groups: dict[int, list[int]] = defaultdict(list)
            with self._lock:
                warm = {keys[i]: set(self._warm.get(keys[i], ())) for i in fresh}
            for i, a in zip(fresh, assign([keys[i] for i in fresh], live, warm=warm), strict=True):
                groups[int(a)].append(i)  # type: ignore[call-overload]
            for i in idxs:
                if avoid[i]:
                    choices = [a for a in live if a not in avoid[i]] or live
                    groups[int(rank(keys[i], choices)[0])].append(i)  # type: ignore[call-overload]
            for a, mine in groups.items():
                mine = interleave(mine, keys)
                for c in range(0, len(mine), self.chunk):
                    queued[a].append(mine[c : c + self.chunk])

        def failed(a: int, chunk: list[int], why: str) -> None:
            again = []
            for i in chunk:
                tries[i] += 1
                avoid[i].add(a)
                if tries[i] > self.max_retries:
                    answer(
                        i,
                        self._failure(
                            "error", f"the actor scoring it failed {tries[i]} times; last: {why}"
                        ),
                    )
                elif results[i] is None:
                    again.append(i)
            moved = [i for c in queued.pop(a, deque()) for i in c]  # not sent yet: go elsewhere too
            for i in moved:
                avoid[i].add(a)
            with self._lock:
                self.retried += len(again)
            route(again + moved)

        route(list(range(n)))
        while done < n:
            for a in list(queued):
                while queued[a] and busy[a] < self.depth:
                    chunk = queued[a].popleft()
                    items = [(i, samples[i][0], samples[i][1]) for i in chunk]
                    # the chunks ahead of it on that actor share its threads
                    budget = (
                        self.config.sample_timeout
                        * math.ceil((busy[a] + 1) * self.chunk / self.config.workers)
                        + self.grace
                    )
                    inflight[self.handles[a].score.remote(items)] = (
                        a,
                        chunk,
                        time.monotonic() + budget,
                        budget,
                    )
                    busy[a] += 1
            if not inflight:
                break  # nothing left to wait for (every remaining sample was answered by route)
            nearest = min(d for _, _, d, _ in inflight.values())
            ready, _ = ray.wait(
                list(inflight), num_returns=1, timeout=max(0.0, nearest - time.monotonic())
            )
            for ref in ready:
                a, chunk, _, _ = inflight.pop(ref)
                busy[a] -= 1
                try:
                    answers = ray.get(ref)
                except RayActorError as err:
                    self._died(a)
                    failed(a, chunk, f"{type(err).__name__}")
                except (RayTaskError, RayError) as err:
                    failed(
                        a,
                        chunk,
                        f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
                    )
                else:
                    for i, obj in answers:
                        answer(i, outcome_from_json(obj))
                    self._answered(
                        a,
                        {
                            keys[i]
                            for i, obj in answers
                            if obj.get("status") not in ("denied", "bad-sample")
                        },
                    )
                if on_progress is not None:
                    on_progress(done, n)
            now = time.monotonic()
            for ref, (a, chunk, deadline, budget) in list(inflight.items()):
                if deadline <= now:  # a wedged actor: its samples time out, the actor is restarted
                    del inflight[ref]
                    busy[a] -= 1
                    for i in chunk:
                        answer(
                            i,
                            self._failure(
                                "timeout",
                                f"the reward actor did not answer within {budget:g} s (restarted)",
                            ),
                        )
                    ray.kill(self.handles[a], no_restart=False)
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    # -- episodes: state lives in one actor; the id names it ---------------------------

    def start_episode(self, sample: Sample) -> tuple[str | None, Outcome]:
        live = self._live()
        if not live:
            return None, self._failure("error", "no live reward actor")
        a = int(rank(route_key(sample), live)[0])  # type: ignore[call-overload]
        try:
            episode, obj = ray.get(
                self.handles[a].start_episode.remote(sample),
                timeout=self.config.sample_timeout + self.grace,
            )
        except (RayError, GetTimeoutError) as err:
            return None, self._failure("error", f"the reward actor failed: {type(err).__name__}")
        outcome = outcome_from_json(obj)
        self.metrics.add(outcome)
        return (f"{a}.{episode}" if episode else None), outcome

    def advance_episode(
        self, episode_id: str, edit: str | None, completion: str | None = None
    ) -> Outcome:
        a, episode = self._split(episode_id)
        if a is None:
            return self._failure("not-found", f"no open episode {episode_id!r}")
        try:
            obj = ray.get(
                self.handles[a].advance_episode.remote(episode, edit, completion),
                timeout=self.config.sample_timeout + self.grace,
            )
        except RayActorError:
            self._died(a)
            return self._failure(
                "not-found", f"episode {episode_id!r} was lost with its actor; start a new one"
            )
        except (RayError, GetTimeoutError) as err:
            return self._failure("error", f"the reward actor failed: {type(err).__name__}")
        outcome = outcome_from_json(obj)
        self.metrics.add(outcome)
        return outcome

    def close_episode(self, episode_id: str) -> bool:
        a, episode = self._split(episode_id)
        if a is None:
            return False
        try:
            return bool(ray.get(self.handles[a].close_episode.remote(episode), timeout=30))
        except (RayError, GetTimeoutError):
            return False

    def _split(self, episode_id: str) -> tuple[int | None, str]:
        head, _, rest = episode_id.partition(".")
        if not head.isdigit() or int(head) >= len(self.handles) or not rest:
            return None, episode_id
        return int(head), rest

    # -- health ------------------------------------------------------------------------

    def info(self, timeout: float = 5.0) -> list[dict[str, Any] | None]:
        """Each actor's ``info()`` (None: it did not answer within ``timeout``)."""
        refs = [h.info.remote() for h in self.handles]
        out: list[dict[str, Any] | None] = []
        for ref in refs:
            try:
                out.append(ray.get(ref, timeout=timeout))
            except (RayError, GetTimeoutError):
                out.append(None)
        return out

    def benches(self) -> int:
        return sum(i["benches"] for i in self.info() if i)

    def episodes(self) -> int:
        return sum(i["episodes"] for i in self.info() if i)

    def close(self) -> None:
        for h in self.handles:
            with contextlib.suppress(RayError, GetTimeoutError):
                ray.get(h.close.remote(), timeout=30)
            ray.kill(h, no_restart=True)
        self.handles = []
        if self._owns_ray:
            ray.shutdown()

    def __enter__(self) -> RewardPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------

    def _failure(self, status: str, error: str) -> Outcome:
        return Outcome(status, self.failure_rewards[status], None, error, 0.0)

    def _died(self, a: int) -> None:
        """Count a death of actor ``a`` (failures within a second are one death: every
        chunk it held fails at once)."""
        with self._lock:
            now = time.monotonic()
            if now - self._last_death.get(a, -math.inf) > 1.0:
                self._deaths[a] += 1
            self._last_death[a] = now
            for actors in self._warm.values():  # a restarted actor starts cold
                actors.discard(a)

    def _answered(self, a: int, answered: set[str]) -> None:
        with self._lock:
            if len(self._warm) > 65536:  # a bound, not a policy: the map is only a hint
                self._warm.clear()
            for key in answered:
                self._warm.setdefault(key, set()).add(a)

    def _live(self) -> list[int]:
        with self._lock:
            return [a for a in range(len(self.handles)) if self._deaths[a] <= self.max_restarts]
