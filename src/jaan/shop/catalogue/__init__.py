"""The catalogue: categories and products for the storefront, product and variant admin.

One module per concern: :mod:`categories`, :mod:`products` (the storefront's queries and the
product's shapes), :mod:`admin_products`, :mod:`variants`, :mod:`slugs`, :mod:`forms`
(what the admin forms share).
"""

from __future__ import annotations

from jaan.routes import RouteTable
from jaan.shop.catalogue import admin_products, categories, products, variants

# Storefront first, then admin: the order the OpenAPI document lists them in.
ROUTE_TABLES: list[RouteTable] = [categories.routes, products.routes, admin_products.routes, variants.routes]
