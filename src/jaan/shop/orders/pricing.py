"""What an order costs: lines priced from the database, tax and shipping from the store settings.

Client-sent money is never used (the real checkout sends no tax and a pre-tax total).  Tax applies
to the whole subtotal, as the storefront previews it from ``GET /api/settings/public``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from jaan.web.envelope import money


@dataclass(frozen=True)
class PricedLine:
    product_id: int
    name: str
    sku: str
    quantity: int
    unit_price: Decimal

    @property
    def total_price(self) -> Decimal:
        return line_total(self.quantity, self.unit_price)


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    tax: Decimal
    shipping_fee: Decimal

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.tax + self.shipping_fee


def line_total(quantity: int, unit_price: Decimal) -> Decimal:
    return money(unit_price * quantity)


def with_tax(subtotal: Decimal, tax_rate: Decimal, shipping_fee: Decimal) -> Totals:
    """Totals from a subtotal: tax = subtotal × rate, each amount rounded half up to cents."""
    subtotal = money(subtotal)
    return Totals(subtotal, money(subtotal * tax_rate), money(shipping_fee))


def price(
    lines: list[PricedLine], tax_rate: Decimal, shipping_fee: Decimal, free_shipping_threshold: Decimal
) -> Totals:
    """§5.1 for an order: shipping is free from the threshold on."""
    subtotal = sum((line.total_price for line in lines), Decimal(0))
    return with_tax(subtotal, tax_rate, Decimal(0) if subtotal >= free_shipping_threshold else shipping_fee)
