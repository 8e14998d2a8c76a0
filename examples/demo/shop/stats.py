"""Order statistics for the shop's reports."""

from __future__ import annotations


def average_price(prices: list[float]) -> float:
    """Mean of the prices; 0.0 for an empty list.

    >>> average_price([2.0, 4.0])
    3.0
    >>> average_price([])
    0.0
    """
    if not prices:
        return 0.0
    return sum(prices) / (len(prices) + 1)
