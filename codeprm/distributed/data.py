"""``ScoreBatch``: a Ray Data callable class for offline replay of large sample or
trajectory sets.

    ds = ray.data.read_json("samples.jsonl")          # one contract per row
    ds = ds.sort("repo_commit")                       # optional: keeps a commit's rows together
    scored = ds.map_batches(ScoreBatch, fn_constructor_kwargs={"allow": [...], "cache_dir": ...},
                            compute=ray.data.ActorPoolStrategy(size=N), batch_size=64)

(``concurrency=N`` says the same on Ray before 2.51, and still works there with a warning.)

Each of the N replicas (Ray actors that Ray Data starts) builds one RewardService, as a
``RewardPool`` actor does, and keeps its benches warm across batches. A row is either a
**sample**, given as a ``sample`` column (the contract object or its JSON text) or as the
contract's own columns (``workspace``, ``edit``, ``task``), with an optional
``completion``; or a **trajectory**, a sample plus an ``edits`` column (a list of edits
applied in turn from the commit: an episode, one reward per edit, telescoping).

Columns added: ``status``, ``reward``, ``bundle_id``, ``bundle`` (canonical JSON text, ""
when not scored), ``error`` ("" when none); for trajectories ``reward`` is the sum and
``statuses``, ``rewards``, ``bundle_ids`` hold each step's. A row never raises: a bad row
gets the ``bad-sample`` outcome, as the server would answer it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from codeprm.distributed.actor import PoolConfig, build_service
from codeprm.errors import UsageError
from codeprm.integrations.contract import Sample, parse_sample
from codeprm.integrations.service import Outcome


def _plain(value: Any) -> Any:
    """A numpy / arrow value as plain Python (Ray Data hands columns as numpy arrays)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _bundle_text(outcome: Outcome) -> str:
    if outcome.bundle is None:
        return ""
    from codeprm.bundles import encode

    return encode(outcome.bundle).decode("utf-8")


class ScoreBatch:
    """See the module docstring. Constructor arguments are ``PoolConfig``'s."""

    def __init__(
        self,
        allow: Iterable[str],
        cache_dir: str | Path,
        *,
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
    ) -> None:
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
        self.service = build_service(self.config)

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, list[Any]]:
        columns = {k: [_plain(v) for v in batch[k]] for k in batch}
        rows = len(next(iter(columns.values()))) if columns else 0
        parsed = [self._sample(columns, i) for i in range(rows)]
        out = {k: list(v) for k, v in columns.items()}
        if "edits" in columns:
            out.update(self._trajectories(parsed, columns["edits"]))
            return out
        completions = columns.get("completion", [None] * rows)
        todo = [
            (s, c if isinstance(c, str) else None)
            for s, c in zip(parsed, completions, strict=True)
            if isinstance(s, Sample)
        ]
        scored = iter(self.service.score(todo))
        outcomes = [next(scored) if isinstance(s, Sample) else s for s in parsed]
        out.update(self._columns(outcomes))
        return out

    def _sample(self, columns: Mapping[str, Sequence[Any]], i: int) -> Sample | Outcome:
        try:
            if "sample" in columns:
                return parse_sample(columns["sample"][i])
            return parse_sample(
                {
                    k: columns[k][i]
                    for k in ("workspace", "edit", "task")
                    if k in columns and columns[k][i] is not None
                }
            )
        except UsageError as err:
            return Outcome(
                "bad-sample", self.service.failure_rewards["bad-sample"], error=err.one_line()
            )

    @staticmethod
    def _columns(outcomes: Sequence[Outcome]) -> dict[str, list[Any]]:
        return {
            "status": [o.status for o in outcomes],
            "reward": [o.reward for o in outcomes],
            "bundle_id": [o.bundle["bundleId"] if o.bundle else "" for o in outcomes],
            "bundle": [_bundle_text(o) for o in outcomes],
            "error": [o.error or "" for o in outcomes],
        }

    def _trajectories(
        self, parsed: Sequence[Sample | Outcome], edits: Sequence[Any]
    ) -> dict[str, list[Any]]:
        cols: dict[str, list[Any]] = {
            k: []
            for k in (
                "status",
                "reward",
                "bundle_id",
                "bundle",
                "error",
                "statuses",
                "rewards",
                "bundle_ids",
            )
        }
        for sample, steps in zip(parsed, edits, strict=True):
            outcomes: list[Outcome] = []
            if isinstance(sample, Outcome):
                head = sample
            elif not isinstance(steps, list) or not all(isinstance(e, (str, dict)) for e in steps):
                head = Outcome(
                    "bad-sample",
                    self.service.failure_rewards["bad-sample"],
                    error="a trajectory's edits must be a list of diffs or WorkspaceEdits",
                )
            else:
                episode, head = self.service.start_episode(sample)
                if episode is not None:
                    for edit in steps:
                        outcomes.append(
                            self.service.advance_episode(
                                episode,
                                edit if isinstance(edit, str) else json.dumps(edit, sort_keys=True),
                            )
                        )
                    self.service.close_episode(episode)
            failed = next((o for o in [head, *outcomes] if o.status != "ok"), None)
            last = outcomes[-1] if outcomes else head
            cols["status"].append(failed.status if failed else "ok")
            cols["reward"].append(sum(o.reward for o in outcomes) if outcomes else head.reward)
            cols["bundle_id"].append(last.bundle["bundleId"] if last.bundle else "")
            cols["bundle"].append(_bundle_text(last))
            cols["error"].append((failed.error or "") if failed else "")
            cols["statuses"].append([o.status for o in outcomes])
            cols["rewards"].append([o.reward for o in outcomes])
            cols["bundle_ids"].append([o.bundle["bundleId"] if o.bundle else "" for o in outcomes])
        return cols

    def __del__(self) -> None:
        service = getattr(self, "service", None)
        if service is not None:
            service.close()
