"""Customers (#42–#43): registered users who are not admins, with what their orders add up to.

`total_orders` counts every order, cancelled ones too (the detail lists them all beside it); spend,
tiers and activity leave cancelled orders out (§5.9).  The list is sorted by spend, highest first,
as the store's web client expects, so it aggregates every customer matching the filters (through
the orders' user index) before taking a page.  Each customer carries `addresses`: the distinct
shipping addresses of their orders, newest first, fetched for a whole page in one query.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from aiohttp import web

from jaan.db.pool import Cursor, Row
from jaan.db.sql import escape_like
from jaan.routes import Access, RouteTable
from jaan.state import DATABASE
from jaan.web.answers import AnyObject, Envelope, Page, Shape
from jaan.web.envelope import ok
from jaan.web.errors import NotFound
from jaan.web.fields import Text, Uuid
from jaan.web.input import uuid_from_path
from jaan.web.paging import Paging, fetch_page

routes = RouteTable("customers")

# Lifetime spend from which each tier starts (§5.9), highest first.
TIERS: tuple[tuple[str, Decimal], ...] = (
    ("Platinum", Decimal(5000)),
    ("Gold", Decimal(2000)),
    ("Silver", Decimal(500)),
    ("Bronze", Decimal(0)),
)
ACTIVE_DAYS = 90  # a customer with an order in this many days is active
_TIER_NAMES = tuple(name for name, _ in TIERS)
TierName = Literal["Platinum", "Gold", "Silver", "Bronze", "platinum", "gold", "silver", "bronze"]
assert {name.capitalize() for name in get_args(TierName)} == set(_TIER_NAMES)


class CustomerQuery(Paging):
    status: Literal["all", "active", "inactive"] = "all"
    tier: Literal["all", TierName] = "all"
    search: Annotated[str, Text(max_length=200)] = ""  # empty: any


class Customer(Shape):
    id: uuid.UUID
    email: str
    total_orders: int
    total_spent: float
    tier: str
    status: Literal["active", "inactive"]


class ListedCustomer(Customer):
    addresses: list[AnyObject]


class CustomerList(Envelope[Page[ListedCustomer]]):
    """One page of customers, highest spend first."""


class OneCustomer(Envelope[Customer]):
    """The customer with their recent orders."""


# Each customer's orders, through orders_user_idx.
_SPEND = """
LEFT JOIN LATERAL (
    SELECT count(*)::int AS total_orders,
           coalesce(sum(o.total) FILTER (WHERE o.status <> 'cancelled'), 0) AS total_spent,
           max(o.created_at) FILTER (WHERE o.status <> 'cancelled') AS last_order_date
    FROM orders o WHERE o.user_id = u.id
) spend ON true
"""
# The order's address shape, one entry per distinct address, the most recently used first.
_ADDRESSES = """
SELECT user_id, json_agg(json_build_object('street', street, 'street2', street2, 'city', city, 'state', state,
                                           'zip', zip, 'country', country) ORDER BY last_used DESC) AS addresses
FROM (
    SELECT user_id, shipping_street AS street, shipping_street2 AS street2, shipping_city AS city,
           shipping_state AS state, shipping_zip AS zip, shipping_country AS country, max(created_at) AS last_used
    FROM orders WHERE user_id = ANY(%s::uuid[])
    GROUP BY user_id, shipping_street, shipping_street2, shipping_city, shipping_state, shipping_zip, shipping_country
) used
GROUP BY user_id
"""
_ACTIVE = f"spend.last_order_date >= now() - interval '{ACTIVE_DAYS} days'"


def tier_of(spent: Decimal) -> str:
    return next(name for name, floor in TIERS if spent >= floor)


def _shaped(row: Row, addresses: dict[Any, list[Row]]) -> Row:
    return {
        **row,
        "tier": tier_of(row["total_spent"]),
        "status": "active" if row.pop("active") else "inactive",
        "addresses": addresses.get(row["id"], []),
    }


async def _addresses(cur: Cursor, user_ids: list[Any]) -> dict[Any, list[Row]]:
    """Each customer's shipping addresses (newest first), for many customers in one query."""
    if not user_ids:
        return {}
    rows = await cur.fetch_all(_ADDRESSES, ([str(user_id) for user_id in user_ids],))
    return {row["user_id"]: row["addresses"] for row in rows}


def _conditions(query: CustomerQuery) -> tuple[list[str], list[Any], bool]:
    """WHERE conditions and parameters, and whether they need the spend aggregates."""
    conditions: list[str] = ["u.role <> 'admin'"]
    params: list[Any] = []
    if query.search:
        conditions.append("(u.email ILIKE %s OR u.full_name ILIKE %s)")
        params += [f"%{escape_like(query.search)}%"] * 2
    needs_spend = False
    if query.tier != "all":
        index = _TIER_NAMES.index(query.tier.capitalize())
        conditions.append("spend.total_spent >= %s")
        params.append(TIERS[index][1])
        if index > 0:
            conditions.append("spend.total_spent < %s")
            params.append(TIERS[index - 1][1])
        needs_spend = True
    if query.status != "all":
        conditions.append(_ACTIVE if query.status == "active" else f"NOT coalesce({_ACTIVE}, false)")
        needs_spend = True
    return conditions, params, needs_spend


@routes.route(
    "GET",
    "/api/admin/customers",
    access=Access.ADMIN,
    summary="Customers and their spend",
    query=CustomerQuery,
    responses={200: CustomerList},
)
async def list_customers(request: web.Request, query: CustomerQuery) -> web.Response:
    conditions, params, needs_spend = _conditions(query)
    where = " AND ".join(conditions)
    async with request.app[DATABASE].cursor() as cur:
        rows, total = await fetch_page(
            cur,
            query,
            "SELECT u.id, u.email, u.full_name, u.created_at, pr.phone, spend.total_orders, spend.total_spent,"
            f" spend.last_order_date, coalesce({_ACTIVE}, false) AS active"
            f" FROM users u {_SPEND} LEFT JOIN profiles pr ON pr.user_id = u.id"
            f" WHERE {where} ORDER BY spend.total_spent DESC, u.created_at DESC, u.id DESC",
            f"SELECT count(*) FROM users u {_SPEND if needs_spend else ''} WHERE {where}",
            params,
        )
        addresses = await _addresses(cur, [row["id"] for row in rows])
    return ok(query.result([_shaped(row, addresses) for row in rows], total))


@routes.route(
    "GET",
    "/api/admin/customers/{id}",
    access=Access.ADMIN,
    summary="One customer with recent orders",
    responses={200: OneCustomer},
    path_params={"id": Uuid},
)
async def get_customer(request: web.Request) -> web.Response:
    customer_id = uuid_from_path(request, "Customer not found")
    async with request.app[DATABASE].cursor() as cur:
        row = await cur.fetch_one(
            "SELECT u.id, u.email, u.full_name, u.created_at, pr.phone, pr.avatar_url, spend.total_orders,"
            f" spend.total_spent, spend.last_order_date, coalesce({_ACTIVE}, false) AS active"
            f" FROM users u {_SPEND} LEFT JOIN profiles pr ON pr.user_id = u.id"
            " WHERE u.id = %s AND u.role <> 'admin'",
            (customer_id,),
        )
        if row is None:
            raise NotFound("Customer not found")
        orders = await cur.fetch_all(
            "SELECT id, order_number, created_at, total, status FROM orders WHERE user_id = %s"
            " ORDER BY created_at DESC, id DESC LIMIT 10",
            (customer_id,),
        )
        addresses = await _addresses(cur, [customer_id])
    return ok({**_shaped(row, addresses), "orders": orders})
