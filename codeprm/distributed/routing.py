"""Sticky routing of samples to actors: rendezvous hashing with bounded load. Pure, no Ray.

A sample is routed by its workspace key, ``(repository, commit)``: every actor gets a
score ``sha256(key, actor)`` and the key goes to the highest-scoring live actor, so the
same commit keeps landing on the actor whose bench for it is warm, and when an actor
leaves only its own keys move (to each key's next choice). The pool also remembers which
actors answered a key (``warm``) and prefers them. Within one batch a key whose samples
would push its choice past ``ceil(slack * n / live)`` goes whole to its next choice, and
a hot key (more samples than a fair share of the batch: the GRPO case, n completions
of one prompt) is spread sample by sample instead of queued on one actor.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Hashable, Mapping, Sequence, Set


def rank(key: str, actors: Sequence[Hashable]) -> list[Hashable]:
    """The actors in the key's preference order (rendezvous / highest-random-weight)."""

    def weight(actor: Hashable) -> bytes:
        return hashlib.sha256(f"{key}\0{actor}".encode()).digest()

    return sorted(actors, key=weight, reverse=True)


def assign(
    keys: Sequence[str],
    actors: Sequence[Hashable],
    *,
    warm: Mapping[str, Set[Hashable]] | None = None,
    slack: float = 1.25,
) -> list[Hashable]:
    """One actor per key occurrence (``keys[i]`` is sample i's workspace key).

    Deterministic for a given batch, set of actors and ``warm`` map (key -> the actors
    known to hold a warm bench for it). A bench start costs seconds and a step tens of
    milliseconds, so a key stays whole: on its least loaded warm actor whose batch load
    stays under the cap (``ceil(slack * n / live)``), else on the first actor of its
    ranking that stays under it. Only a hot key (more samples than a fair share,
    ``n / live``: GRPO's n completions of one prompt) is split, sample by sample, over
    its warm actors and then its ranking, each actor up to the cap.
    """
    if not actors:
        raise ValueError("no live actor to route to")
    warm = warm or {}
    cap = max(1, math.ceil(slack * len(keys) / len(actors)))
    share = math.ceil(len(keys) / len(actors))
    load = dict.fromkeys(actors, 0)
    counts: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        counts.setdefault(key, []).append(i)
    out: list[Hashable | None] = [None] * len(keys)
    for key in sorted(counts, key=lambda k: (-len(counts[k]), k)):
        ranked = rank(key, actors)
        hotter = [a for a in ranked if a in warm.get(key, ())]
        idxs = counts[key]
        if len(idxs) > share:
            order = hotter + [a for a in ranked if a not in hotter]
            for i in idxs:
                chosen = next(
                    (a for a in order if load[a] < cap), min(order, key=lambda a: load[a])
                )
                load[chosen] += 1
                out[i] = chosen
            continue
        fits = [a for a in hotter if load[a] + len(idxs) <= cap]
        if fits:
            chosen = min(fits, key=lambda a: load[a])
        else:
            chosen = next(
                (a for a in ranked if load[a] + len(idxs) <= cap),
                min(ranked, key=lambda a: load[a]),
            )
        load[chosen] += len(idxs)
        for i in idxs:
            out[i] = chosen
    return out  # type: ignore[return-value]


def interleave(idxs: list[int], keys: Sequence[str]) -> list[int]:
    """Round-robin over the keys, each key's samples in their order: the samples an actor
    scores at once are of different commits where possible. (Two of one commit at once
    make the service open a second bench of it, evicting another commit's idle bench when
    it is full: seconds of cold start instead of tens of milliseconds of waiting.)"""
    by_key: dict[str, deque[int]] = {}
    for i in idxs:
        by_key.setdefault(keys[i], deque()).append(i)
    out: list[int] = []
    while by_key:
        for key in list(by_key):
            out.append(by_key[key].popleft())
            if not by_key[key]:
                del by_key[key]
    return out
