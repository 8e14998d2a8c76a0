"""A shopping cart."""

from __future__ import annotations

from shop.pricing import discounted


class Cart:
    def __init__(self) -> None:
        self.items: list[tuple[str, float]] = []

    def add(self, name: str, price: float) -> None:
        self.items.append((name, price))

    def total(self, percent: float = 0.0) -> float:
        return sum(discounted(price, percent) for _, price in self.items)
