"""The purchasing tests' fixtures serve the supplier tests too."""

from __future__ import annotations

from tests.shop.purchasing.conftest import purchasing, shop

__all__ = ["purchasing", "shop"]
