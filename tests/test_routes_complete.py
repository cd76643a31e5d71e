"""Every one of the spec's 58 routes (§4.1; #49 is #20 registered once) exists with its method, path
and access level."""

from __future__ import annotations

import re

from jaan.app import ROUTE_TABLES
from jaan.routes import Access

P, U, A = Access.PUBLIC, Access.USER, Access.ADMIN

# The spec's index, paths as it writes them (`:id`).
SPEC_ROUTES = [
    (1, "POST", "/api/auth/signup", P),
    (2, "POST", "/api/auth/signin", P),
    (3, "POST", "/api/auth/signout", P),
    (4, "GET", "/api/auth/user", U),
    (5, "GET", "/api/health", P),
    (6, "POST", "/api/admin/uploads", A),
    (7, "GET", "/api/categories", P),
    (8, "GET", "/api/products", P),
    (9, "GET", "/api/products/slug/:slug", P),
    (10, "POST", "/api/contact", P),
    (11, "POST", "/api/admin/products", A),
    (12, "PUT", "/api/admin/products/:id", A),
    (13, "DELETE", "/api/admin/products/:id", A),
    (14, "GET", "/api/admin/products/:id/variants", A),
    (15, "POST", "/api/admin/products/:id/variants", A),
    (16, "PUT", "/api/admin/variants/:id", A),
    (17, "DELETE", "/api/admin/variants/:id", A),
    (18, "POST", "/api/admin/inventory/adjust", A),
    (19, "GET", "/api/admin/inventory/adjustments", A),
    (20, "GET", "/api/admin/suppliers", A),
    (21, "POST", "/api/admin/suppliers", A),
    (22, "PUT", "/api/admin/suppliers/:id", A),
    (23, "DELETE", "/api/admin/suppliers/:id", A),
    # #24 was public in the original (D-01); checkout needs a session here.
    (24, "POST", "/api/orders", U),
    (25, "GET", "/api/orders", U),
    (26, "GET", "/api/orders/:id", U),
    (27, "GET", "/api/user/invoices", U),
    (28, "PUT", "/api/admin/orders/:id/status", A),
    (29, "GET", "/api/admin/stats", A),
    (30, "GET", "/api/admin/dashboard-data", A),
    (31, "GET", "/api/admin/analytics", A),
    (32, "GET", "/api/admin/activity", A),
    (33, "GET", "/api/admin/users", A),
    (34, "PUT", "/api/admin/users/:id/role", A),
    (35, "GET", "/api/admin/invoices", A),
    (36, "GET", "/api/admin/invoices/stats", A),
    (37, "POST", "/api/admin/invoices", A),
    (38, "PUT", "/api/admin/invoices/:id", A),
    (39, "GET", "/api/admin/invoices/:id", A),
    (40, "POST", "/api/admin/invoices/from-order/:orderId", A),
    (41, "PUT", "/api/admin/invoices/:id/status", A),
    (42, "GET", "/api/admin/customers", A),
    (43, "GET", "/api/admin/customers/:id", A),
    (44, "GET", "/api/admin/settings", A),
    (45, "GET", "/api/admin/settings/:category", A),
    (46, "PUT", "/api/admin/settings/:key", A),
    (47, "GET", "/api/settings/public", P),
    (48, "GET", "/api/admin/inventory", A),
    (50, "GET", "/api/admin/low-stock-by-supplier", A),
    (51, "POST", "/api/admin/purchase-orders", A),
    (52, "GET", "/api/admin/purchase-orders", A),
    (53, "GET", "/api/admin/purchase-orders/:id", A),
    (54, "PUT", "/api/admin/purchase-orders/:id/status", A),
    (55, "POST", "/api/admin/purchase-orders/:id/receive-items", A),
    (56, "GET", "/api/admin/contact-submissions", A),
    (57, "GET", "/api/admin/contact-submissions/:id", A),
    (58, "PUT", "/api/admin/contact-submissions/:id", A),
    (59, "DELETE", "/api/admin/contact-submissions/:id", A),
]
# Routes the spec does not list, each documented in the README.
ADDITIONS = {
    ("GET", "/api/health/ready"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),  # the reference page of the document (issue 16) and its files
    ("GET", "/api/docs/{}"),
    ("GET", "/uploads/{}"),  # the spec's static mount "S", served by a route here
    ("GET", "/metrics"),  # Prometheus, for the operator's scrapers only
    ("GET", "/api/admin/events"),  # issue 15: live events
    ("GET", "/api/events"),
}


def shape(path: str) -> str:
    """A path with its parameters anonymised, spec (`:id`) and aiohttp (`{id}`) alike."""
    return re.sub(r":\w+|\{[^}]*\}", "{}", path)


def registry() -> dict[tuple[str, str], Access]:
    return {(route.method, shape(route.path)): route.access for table in ROUTE_TABLES for route in table}


def test_the_spec_lists_58_distinct_routes():
    assert len({(method, shape(path)) for _, method, path, _ in SPEC_ROUTES}) == 58


def test_every_spec_route_is_registered_with_its_access_level():
    routes = registry()
    missing = [f"#{n} {method} {path}" for n, method, path, _ in SPEC_ROUTES if (method, shape(path)) not in routes]
    assert missing == []
    wrong = [
        f"#{n} {method} {path}: {routes[(method, shape(path))]}"
        for n, method, path, access in SPEC_ROUTES
        if routes[(method, shape(path))] is not access
    ]
    assert wrong == []


def test_nothing_is_registered_beyond_the_spec_and_the_documented_additions():
    spec = {(method, shape(path)) for _, method, path, _ in SPEC_ROUTES}
    assert set(registry()) - spec == ADDITIONS


def test_suppliers_are_listed_by_one_handler():
    handlers = [r for table in ROUTE_TABLES for r in table if (r.method, r.path) == ("GET", "/api/admin/suppliers")]
    assert len(handlers) == 1


def concrete(path: str) -> str:
    return re.sub(r":\w+", "1", path)


ADMIN_ROUTES = [(method, path) for _, method, path, access in SPEC_ROUTES if access is A]


async def test_every_admin_route_refuses_anonymous_callers_and_customers(make_client, customer):
    client = await make_client()
    for method, path in ADMIN_ROUTES:
        anonymous = await client.request(method, concrete(path), json={})
        assert anonymous.status == 401, f"{method} {path}"
        refused = await client.request(method, concrete(path), json={}, headers=customer.headers)
        assert refused.status == 403, f"{method} {path}"
        assert (await refused.json())["success"] is False
