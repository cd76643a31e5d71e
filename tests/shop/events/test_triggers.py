"""Events written by the database in the transaction of each change, numbered in commit order."""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import closing
from typing import Any

import psycopg2
import pytest

from jaan.app import housekeeping_jobs
from jaan.db.pool import Database, PoolConfig
from jaan.periodic import run_once
from tests.conftest import settings_for_tests


class Db:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def run(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with closing(psycopg2.connect(self.dsn)) as conn, conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def mark(self) -> int:
        return int(self.run("SELECT coalesce(max(id), 0) FROM events")[0][0])

    def since(self, mark: int, **match: Any) -> list[tuple[str, dict[str, Any], Any]]:
        """(type, data, user_id) of the events after `mark` whose data has these values, in id order."""
        rows = self.run("SELECT type, data, user_id FROM events WHERE id > %s ORDER BY id", (mark,))
        return [(t, d, u) for t, d, u in rows if all(d.get(k) == v for k, v in match.items())]


@pytest.fixture
def db(probe_database: str) -> Db:
    return Db(probe_database)


def product(db: Db, stock: int, threshold: int = 10) -> int:
    tag = uuid.uuid4().hex[:10]
    return int(
        db.run(
            "INSERT INTO products (name, slug, sku, price, unit, stock_quantity, low_stock_threshold)"
            " VALUES (%s, %s, %s, 2, 'kg', %s, %s) RETURNING id",
            (f"Lentils {tag}", f"lentils-{tag}", f"SKU-{tag}", stock, threshold),
        )[0][0]
    )


def test_stock_crossing_its_threshold_or_zero_either_way(db):
    pid = product(db, stock=20)
    mark = db.mark()
    for stock in (15, 5, 4, 0, 3, 12, 11):  # in stock, low, low, out, low, in stock, in stock
        db.run("UPDATE products SET stock_quantity = %s WHERE id = %s", (stock, pid))
    db.run("UPDATE products SET low_stock_threshold = 20 WHERE id = %s", (pid,))  # the threshold moves instead
    events = db.since(mark, product_id=pid)
    assert [(t, d["from"], d["to"], d["stock_quantity"]) for t, d, _ in events] == [
        ("stock.low", "in_stock", "low_stock", 5),
        ("stock.out", "low_stock", "out_of_stock", 0),
        ("stock.low", "out_of_stock", "low_stock", 3),
        ("stock.restocked", "low_stock", "in_stock", 12),
        ("stock.low", "in_stock", "low_stock", 11),
    ]
    assert all(user is None for _, _, user in events)  # admins only


def test_orders_and_invoices(db, customer):
    mark = db.mark()
    order = db.run(
        "INSERT INTO orders (user_id, customer_name, customer_email, shipping_street, shipping_city, shipping_state,"
        " shipping_zip, subtotal, tax, shipping_fee, total, payment_method)"
        " VALUES (%s, 'Amina', 'a@example.com', '1 St', 'Town', 'IL', '62701', 10, 0.80, 0, 10.80, 'card')"
        " RETURNING id",
        (str(customer.id),),
    )[0][0]
    db.run("UPDATE orders SET tracking_number = 'T1' WHERE id = %s", (order,))  # not a status change
    db.run("UPDATE orders SET status = 'processing' WHERE id = %s", (order,))
    invoice = db.run(
        "INSERT INTO invoices (invoice_number, order_id, user_id, customer_name, customer_email, billing_street,"
        " billing_city, billing_state, billing_zip, subtotal, tax, total, status, issue_date, due_date)"
        " VALUES ('INV-2026-' || padded(nextval('invoice_number_seq'), 5), %s, %s, 'Amina', 'a@example.com',"
        " '1 St', 'Town', 'IL', '62701', 10, 0.80, 10.80, 'sent', current_date, current_date + 30) RETURNING id",
        (order, str(customer.id)),
    )[0][0]
    db.run("UPDATE invoices SET amount_paid = total, status = 'paid' WHERE id = %s", (invoice,))
    db.run("UPDATE invoices SET notes = 'thanks' WHERE id = %s", (invoice,))  # already paid: nothing more
    rows = db.run("SELECT type, data, user_id FROM events WHERE id > %s ORDER BY id", (mark,))
    mine = [(t, d, u) for t, d, u in rows if d.get("order_id") == order]
    assert [t for t, _, _ in mine] == ["order.created", "order.status_changed", "invoice.issued", "invoice.paid"]
    created, changed, issued, paid = (d for _, d, _ in mine)
    assert created["total"] == 10.8
    # Money leaves as written: two decimals on the wire.
    assert db.run(
        "SELECT data->>'total' FROM events WHERE id > %s AND type = 'order.created' AND (data->>'order_id')::int = %s",
        (mark, order),
    ) == [("10.80",)]
    assert (changed["from"], changed["to"], changed["tracking_number"]) == ("pending", "processing", "T1")
    assert issued["invoice_id"] == invoice and issued["status"] == "sent"
    assert paid["amount_paid"] == paid["total"] and paid["balance_due"] == 0
    # The customer may see all but the creation (they made it; admins are told).
    assert [u is not None and str(u) == str(customer.id) for _, _, u in mine] == [False, True, True, True]


def test_a_contact_inquiry(db):
    mark = db.mark()
    db.run(
        "INSERT INTO contact_submissions (full_name, company_name, business_email, phone_number, message)"
        " VALUES ('Ravi Patel', 'Patel Foods', 'ravi@example.com', '555-0100', 'We would like a price list.')"
    )
    events = db.since(mark, company_name="Patel Foods")
    assert events and events[-1][0] == "contact.received" and events[-1][1]["full_name"] == "Ravi Patel"


def test_a_purchase_order_receipt_is_one_event(db):
    first, second = product(db, stock=0), product(db, stock=0)
    supplier = db.run("INSERT INTO suppliers (name) VALUES (%s) RETURNING id", (f"S {uuid.uuid4().hex[:6]}",))[0][0]
    po = db.run(
        "INSERT INTO purchase_orders (po_number, supplier_id, status)"
        " VALUES ('PO2026-' || padded(nextval('purchase_order_number_seq'), 5), %s, 'confirmed') RETURNING id",
        (supplier,),
    )[0][0]
    db.run(
        "INSERT INTO purchase_order_items (purchase_order_id, product_id, quantity, unit_price)"
        " VALUES (%s, %s, 5, 1), (%s, %s, 3, 1)",
        (po, first, po, second),
    )
    mark = db.mark()
    db.run("UPDATE purchase_order_items SET received_quantity = 2 WHERE purchase_order_id = %s", (po,))
    db.run("UPDATE purchase_order_items SET notes = 'checked' WHERE purchase_order_id = %s", (po,))  # no receipt
    db.run("UPDATE purchase_order_items SET received_quantity = quantity WHERE purchase_order_id = %s", (po,))
    events = db.since(mark, purchase_order_id=po)
    assert [t for t, _, _ in events] == ["purchase_order.received"] * 2
    partial, complete = (d for _, d, _ in events)
    assert (partial["units_received"], partial["complete"], len(partial["items"])) == (4, False, 2)
    assert (complete["units_received"], complete["complete"]) == (4, True)
    assert [i["received_quantity"] for i in complete["items"]] == [3, 1]


def test_ids_follow_commit_order_and_rolled_back_changes_leave_none(db, probe_database):
    inquiry = (
        "INSERT INTO contact_submissions (full_name, company_name, business_email, phone_number, message)"
        " VALUES ('Order Test', %s, 'o@example.com', '555-0100', 'Which commits first?')"
    )
    early, late = psycopg2.connect(probe_database), psycopg2.connect(probe_database)
    try:
        mark = db.mark()
        with early.cursor() as cur:
            cur.execute(inquiry, ("written first, committed last",))
        with late.cursor() as cur:
            cur.execute(inquiry, ("written last, committed first",))
        late.commit()
        early.commit()
        with early.cursor() as cur:
            cur.execute(inquiry, ("rolled back",))
        early.rollback()
    finally:
        early.close()
        late.close()
    names = [d["company_name"] for _, d, _ in db.since(mark, full_name="Order Test")]
    assert names == ["written last, committed first", "written first, committed last"]
    assert db.run("SELECT count(*) FROM events WHERE id < 0")[0][0] == 0


async def test_events_past_the_retention_are_pruned(db, probe_database):
    db.run(
        "INSERT INTO events (type, at, data) VALUES ('test.old', now() - interval '8 days', '{}'),"
        " ('test.recent', now() - interval '6 days', '{}')"
    )
    # The id is given at commit; "at" too, so age them afterwards.
    db.run("UPDATE events SET at = now() - interval '8 days' WHERE type = 'test.old'")
    db.run("UPDATE events SET at = now() - interval '6 days' WHERE type = 'test.recent'")
    settings = settings_for_tests(probe_database)
    [job] = [job for job in housekeeping_jobs(settings) if job.name == "prune events"]
    database = Database(PoolConfig(dsn=probe_database, min_size=1, max_size=1))
    await database.open()
    try:
        assert await run_once(database, job)
    finally:
        await database.close()
    left = {t for (t,) in db.run("SELECT type FROM events WHERE type LIKE 'test.%%'")}
    assert left == {"test.recent"}
    assert dt.timedelta(days=settings.events_retention_days) == dt.timedelta(days=7)
