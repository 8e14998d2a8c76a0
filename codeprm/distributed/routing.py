"""Sticky routing of samples to actors: rendezvous hashing with bounded load. Pure, no Ray.

A sample is routed by its workspace key, ``(repository, commit)``: every actor gets a
score ``sha256(key, actor)`` and the key goes to the highest-scoring live actor, so the
same commit keeps landing on the actor whose bench for it is warm, and when an actor
leaves only its own keys move (to each key's next choice). Within one batch no actor
takes more than ``ceil(slack * n / live)`` samples: a key whose samples would push its
first choice past that spills, in its own ranking order, to the next choice (the GRPO
case, n completions of one prompt, is spread instead of queued on one actor).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Sequence


def rank(key: str, actors: Sequence[Hashable]) -> list[Hashable]:
    """The actors in the key's preference order (rendezvous / highest-random-weight)."""

    def weight(actor: Hashable) -> bytes:
        return hashlib.sha256(f"{key}\0{actor}".encode()).digest()

    return sorted(actors, key=weight, reverse=True)


def assign(keys: Sequence[str], actors: Sequence[Hashable], *, slack: float = 1.25) -> list[Hashable]:
    """One actor per key occurrence (``keys[i]`` is sample i's workspace key).

    Deterministic for a given batch and set of actors. Keys are placed most numerous
    first, each sample on the first actor of its key's ranking that is below the cap.
    """
    if not actors:
        raise ValueError("no live actor to route to")
    cap = max(1, math.ceil(slack * len(keys) / len(actors)))
    load = dict.fromkeys(actors, 0)
    counts: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        counts.setdefault(key, []).append(i)
    out: list[Hashable | None] = [None] * len(keys)
    for key in sorted(counts, key=lambda k: (-len(counts[k]), k)):
        order = rank(key, actors)
        for i in counts[key]:
            chosen = next((a for a in order if load[a] < cap), order[0])
            load[chosen] += 1
            out[i] = chosen
    return out  # type: ignore[return-value]
