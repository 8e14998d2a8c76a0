"""TRL: a reward function for ``GRPOTrainer(reward_funcs=[...])``.

    from codeprm.integrations.trl import reward_function
    trainer = GRPOTrainer(..., reward_funcs=[reward_function(url="http://127.0.0.1:8000")])

TRL calls ``f(prompts, completions, completion_ids, **dataset_columns)`` with one list per
column. The dataset carries each sample's workspace contract in a column (``codeprm`` by
default: an object or its JSON text, ``{"workspace": {"repo", "commit"}, "task"}``). A
conversational completion (a list of messages) is read from its last message's content.
The batch goes to ``codeprm serve`` in one request; each sample's reward is a float, and
``None`` (TRL's "no reward for this sample") for a sample without a contract.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from codeprm.integrations.client import RewardClient


def _text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return ""


def reward_function(
    url: str | None = None, token: str | None = None, column: str = "codeprm"
) -> Callable[..., list[float | None]]:
    client = RewardClient.from_env(url, token)

    def codeprm_reward(
        prompts: Sequence[Any],
        completions: Sequence[Any],
        completion_ids: Any = None,
        **columns: Any,
    ) -> list[float | None]:
        metas = columns.get(column) or [None] * len(completions)
        rows: list[dict[str, Any] | None] = []
        for meta, completion in zip(metas, completions, strict=True):
            if isinstance(meta, str):
                try:
                    meta = json.loads(meta)
                except ValueError:
                    meta = None
            rows.append(
                {**meta, "completion": _text(completion)} if isinstance(meta, dict) else None
            )
        sent = [r for r in rows if r is not None]
        results = iter(client.score(sent) if sent else [])
        return [float(next(results)["reward"]) if r is not None else None for r in rows]

    codeprm_reward.__name__ = "codeprm_reward"  # TRL logs each reward function by name
    return codeprm_reward
