"""What runs inside a Ray worker: the picklable pool configuration, the service it builds,
and the actor class (a plain class; ``pool.py`` wraps it with ``ray.remote``).

No Ray import here: the same ``build_service`` gives the single-process reference that
the Ray results are compared against (tests, benchmark), so "same configuration" is one
object, not two code paths.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeprm.integrations.contract import Sample
from codeprm.integrations.service import Outcome, RewardService


@dataclass(frozen=True)
class PoolConfig:
    """Everything an actor needs to build its RewardService (sent to every actor, so
    plain values only). ``options`` are StepEngine options (``exec_mode``, ``weights``,
    ``formula``, ``prm_weight``, ...); ``prm`` is ``--prm``'s value, loaded in the actor."""

    allow: tuple[str, ...]
    cache_dir: str
    max_trees: int = 16
    max_bytes: int = 8 << 30
    sample_timeout: float = 120.0
    max_benches: int = 4
    workers: int = 4
    timeout: float = 60.0
    prm: str = "none"
    device: str = "cpu"
    options: Mapping[str, Any] = field(default_factory=dict)
    failure_rewards: Mapping[str, float] | None = None

    @classmethod
    def of(
        cls,
        allow: Iterable[str],
        cache_dir: str | Path,
        *,
        options: Mapping[str, Any] | None = None,
        failure_rewards: Mapping[str, float] | None = None,
        **limits: Any,
    ) -> PoolConfig:
        """From constructor-style arguments: the cache directory resolved, the mappings
        copied into plain values (the config travels to every actor)."""
        return cls(
            allow=tuple(allow),
            cache_dir=str(Path(cache_dir).expanduser().resolve()),
            options=dict(options or {}),
            failure_rewards=dict(failure_rewards) if failure_rewards else None,
            **limits,
        )


def build_service(config: PoolConfig) -> RewardService:
    """A RewardService over StepBenches, as ``codeprm serve`` builds it."""
    from codeprm.integrations.service import StepBench
    from codeprm.workspace.cache import WorkspaceCache

    scorer = None
    if config.prm != "none":
        from codeprm.analysis.learned import load_prm

        scorer, _ = load_prm(config.prm, config.device)
    options = dict(config.options)
    cache = WorkspaceCache(
        Path(config.cache_dir),
        allow=config.allow,
        max_trees=config.max_trees,
        max_bytes=config.max_bytes,
    )
    return RewardService(
        cache,
        lambda root: StepBench(root, scorer=scorer, options=options, timeout=config.timeout),
        sample_timeout=config.sample_timeout,
        failure_rewards=config.failure_rewards,
        max_benches=config.max_benches,
        workers=config.workers,
    )


def outcome_from_json(obj: Mapping[str, Any]) -> Outcome:
    return Outcome(
        str(obj["status"]),
        float(obj["reward"]),
        obj.get("bundle"),
        obj.get("error"),
        float(obj.get("seconds", 0.0)),
        {str(k): float(v) for k, v in (obj.get("stages") or {}).items()},
    )


class RewardActor:
    """One Ray actor: a RewardService with its warm benches. Each sample of a chunk is a
    ``score`` call of its own on the actor's ``workers`` threads, so its timeout starts
    when a worker takes it (the service bounds a whole ``score`` call by one
    ``sample_timeout``) and a chunk never waits for its slowest sample to start the next;
    chunks that arrive together (the pool keeps two in flight) share those threads."""

    def __init__(self, config: PoolConfig, name: str) -> None:
        self.config = config
        self.name = name
        self.service = build_service(config)
        self._threads = ThreadPoolExecutor(
            max_workers=config.workers, thread_name_prefix="codeprm-actor"
        )

    def score(
        self, items: Sequence[tuple[int, Sample, str | None]]
    ) -> list[tuple[int, dict[str, Any]]]:
        futures = [(i, self._threads.submit(self.service.score, [(s, c)])) for i, s, c in items]
        return [(i, f.result()[0].to_json()) for i, f in futures]

    def start_episode(self, sample: Sample) -> tuple[str | None, dict[str, Any]]:
        episode, outcome = self.service.start_episode(sample)
        return episode, outcome.to_json()

    def advance_episode(
        self, episode: str, edit: str | None, completion: str | None
    ) -> dict[str, Any]:
        return self.service.advance_episode(episode, edit, completion).to_json()

    def close_episode(self, episode: str) -> bool:
        return self.service.close_episode(episode)

    def info(self) -> dict[str, Any]:
        """Where the actor runs and what it holds (health checks, tests, the benchmark)."""
        node = None
        try:
            import ray

            node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
        except ImportError:
            pass
        return {
            "name": self.name,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "node": node,
            "benches": self.service.benches(),
            "episodes": self.service.episodes(),
        }

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        self.service.close()
