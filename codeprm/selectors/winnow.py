"""Winnowed k-gram fingerprints (Schleimer, Wilkerson and Aiken's MOSS) of code text.

Text is normalised by dropping all whitespace, so re-indentation and re-wrapping do not
change fingerprints; each normalised character remembers its offset in the original.
Hashes are CRC-32 of the UTF-8 k-gram: deterministic across processes, unlike ``hash``.
With k=7 and w=4 every shared run of at least k + w - 1 = 10 non-space characters is
guaranteed to share a fingerprint. Pure.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

K = 7
W = 4


@dataclass(frozen=True, slots=True)
class Normalized:
    """``text`` with whitespace removed; ``offsets[i]`` is the original offset of ``text[i]``."""

    text: str
    offsets: tuple[int, ...]


def normalize(text: str) -> Normalized:
    kept = [(i, c) for i, c in enumerate(text) if not c.isspace()]
    return Normalized("".join(c for _, c in kept), tuple(i for i, _ in kept))


def kgram_hashes(text: str, k: int = K) -> list[int]:
    """CRC-32 of every k-gram of ``text`` (empty when ``text`` is shorter than k)."""
    return [
        zlib.crc32(text[i : i + k].encode("utf-8", "surrogatepass"))
        for i in range(len(text) - k + 1)
    ]


def winnow(hashes: list[int], w: int = W) -> list[tuple[int, int]]:
    """``(hash, position)`` pairs selected by winnowing: the rightmost minimum of each window."""
    if not hashes:
        return []
    if len(hashes) <= w:
        low = min(hashes)
        pos = max(i for i, h in enumerate(hashes) if h == low)
        return [(low, pos)]
    out: list[tuple[int, int]] = []
    last = -1
    for start in range(len(hashes) - w + 1):
        window = hashes[start : start + w]
        low = min(window)
        pos = start + max(i for i, h in enumerate(window) if h == low)
        if pos != last:
            out.append((low, pos))
            last = pos
    return out


def fingerprints(text: str, k: int = K, w: int = W) -> list[tuple[int, int]]:
    """Winnowed fingerprints of already normalised ``text``: ``(hash, position)`` pairs."""
    return winnow(kgram_hashes(text, k), w)
