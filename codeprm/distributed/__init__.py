"""Ray scale-out of the reward service (``pip install 'codeprm[ray]'``).

``RewardPool`` (``pool.py``): Ray actors that each own warm benches, samples routed by
(repository, commit), crashed actors restarted and their samples retried elsewhere.
``ScoreBatch`` (``data.py``): a Ray Data callable class for offline replay. Importing
this package does not import Ray; the names below do, when first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PoolConfig", "RewardPool", "ScoreBatch"]


def __getattr__(name: str) -> Any:
    if name == "RewardPool":
        from codeprm.distributed.pool import RewardPool

        return RewardPool
    if name == "ScoreBatch":
        from codeprm.distributed.data import ScoreBatch

        return ScoreBatch
    if name == "PoolConfig":
        from codeprm.distributed.actor import PoolConfig

        return PoolConfig
    raise AttributeError(name)
