"""Prices and discounts."""

from __future__ import annotations


def discounted(price: float, percent: float) -> float:
    """Price after a percentage discount."""
    if percent < 0 or percent > 100:
        raise ValueError("percent must be within 0..100")
    return price * (1 - percent / 100)
