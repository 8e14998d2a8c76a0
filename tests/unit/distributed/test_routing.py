"""Routing samples to reward actors: sticky, balanced within a batch, minimal movement
when an actor leaves; and the package's import boundary (Ray only when used)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from codeprm.distributed.routing import assign, interleave, rank


def keys(n_keys: int, per_key: int) -> list[str]:
    return [f"/repos/r{k}\0{k:040x}" for _ in range(per_key) for k in range(n_keys)]


def test_rank_is_deterministic_and_a_leaving_actor_moves_only_its_keys() -> None:
    actors = [0, 1, 2, 3]
    ks = [f"repo{k}\0c{k}" for k in range(200)]
    first = {k: rank(k, actors)[0] for k in ks}
    assert first == {
        k: rank(k, list(reversed(actors)))[0] for k in ks
    }  # order of the actor list is irrelevant
    assert set(first.values()) == set(actors)
    without = {k: rank(k, [0, 1, 3])[0] for k in ks}
    moved = {k for k in ks if first[k] != without[k]}
    assert moved == {k for k in ks if first[k] == 2}  # only actor 2's keys move
    assert all(without[k] == rank(k, actors)[1] for k in moved)  # each to its second choice


def test_assign_is_sticky_per_key_and_bounded_per_batch() -> None:
    batch = keys(8, 4)  # 32 samples, 8 commits
    got = assign(batch, [0, 1])
    assert got == assign(batch, [0, 1])
    load = Counter(got)
    assert max(load.values()) <= 20  # ceil(1.25 * 32 / 2)
    per_key = {k: {a for kk, a in zip(batch, got, strict=True) if kk == k} for k in set(batch)}
    assert all(len(v) == 1 for v in per_key.values())  # a key that is not hot stays whole


def test_warm_actors_win_over_the_ranking() -> None:
    batch = keys(4, 2)
    ks = sorted(set(batch))
    warm = {k: {1} for k in ks[:2]}  # actor 1 answered two of the keys before
    got = assign(batch, [0, 1], warm=warm)
    assert all(a == 1 for k, a in zip(batch, got, strict=True) if k in warm)
    everything_warm = assign(batch, [0, 1], warm={k: {1} for k in ks})
    assert Counter(everything_warm) == {
        1: 4,
        0: 4,
    }  # warm, but not past the cap: the batch is balanced
    cold = assign(batch, [0, 1])
    assert all(
        a == rank(k, [0, 1])[0] or a == rank(k, [0, 1])[1] for k, a in zip(batch, cold, strict=True)
    )


def test_a_hot_commit_spills_in_its_own_ranking_order() -> None:
    batch = ["/r\0abc"] * 16  # GRPO: 16 completions of one prompt
    got = assign(batch, [0, 1, 2, 3])
    order = rank("/r\0abc", [0, 1, 2, 3])
    assert Counter(got) == {order[0]: 5, order[1]: 5, order[2]: 5, order[3]: 1}


def test_an_actors_samples_alternate_between_commits() -> None:
    ks = ["a", "a", "a", "b", "b", "c"]
    assert interleave([0, 1, 2, 3, 4, 5], ks) == [
        0,
        3,
        5,
        1,
        4,
        2,
    ]  # a b c a b a: each key's order kept
    assert interleave([], ks) == []


def test_importing_codeprm_and_its_distributed_package_does_not_import_ray() -> None:
    code = "import sys, codeprm, codeprm.distributed, codeprm.distributed.routing, codeprm.cli.serve; print('ray' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "False"
