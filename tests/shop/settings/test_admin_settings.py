"""Settings for admins (#44–#46): typed values, checked on write, unknown keys 404, changes logged."""

from __future__ import annotations

import psycopg2
import pytest


def query(dsn, sql, params=()):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


@pytest.fixture
def restore_settings(probe_database):
    before = query(probe_database, "SELECT key, value FROM settings")
    yield
    with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:
        for key, value in before:
            cur.execute("UPDATE settings SET value = %s WHERE key = %s AND value <> %s", (value, key, value))
    conn.close()


async def test_all_settings_by_category_and_key_with_typed_values(make_client, admin):
    client = await make_client()
    response = await client.get("/api/admin/settings", headers=admin.headers)
    assert response.status == 200
    rows = (await response.json())["data"]
    assert [(r["category"], r["key"]) for r in rows] == sorted((r["category"], r["key"]) for r in rows)
    by_key = {r["key"]: r for r in rows}
    assert by_key["tax_rate"]["value"] == 0.08 and by_key["tax_rate"]["value_type"] == "number"
    assert by_key["allow_po_over_receipt"]["value"] is False
    assert by_key["purchase_tax_rate"]["value"] == 0.05


async def test_settings_of_one_category(make_client, admin):
    client = await make_client()
    response = await client.get("/api/admin/settings/financial", headers=admin.headers)
    keys = [r["key"] for r in (await response.json())["data"]]
    assert keys == ["default_shipping_fee", "free_shipping_threshold", "tax_rate"]
    empty = await client.get("/api/admin/settings/nothing-here", headers=admin.headers)
    assert empty.status == 200 and (await empty.json())["data"] == []


@pytest.mark.parametrize(
    ("key", "sent", "stored", "shown"),
    [
        ("tax_rate", 0.0725, "0.0725", 0.0725),
        ("tax_rate", "0.1", "0.1", 0.1),
        ("default_shipping_fee", 12.5, "12.5", 12.5),
        ("invoice_payment_terms_days", 45, "45", 45),
        ("allow_po_over_receipt", True, "true", True),
        ("allow_negative_stock", "false", "false", False),
        ("store_timezone", "Asia/Kolkata", "Asia/Kolkata", "Asia/Kolkata"),
    ],
)
async def test_a_setting_is_changed_checked_and_logged(
    make_client, admin, probe_database, restore_settings, key, sent, stored, shown
):
    client = await make_client()
    response = await client.put(f"/api/admin/settings/{key}", json={"value": sent}, headers=admin.headers)
    assert response.status == 200, await response.text()
    row = (await response.json())["data"]
    assert row["value"] == shown and row["updated_by"] == str(admin.id)
    assert query(probe_database, "SELECT value FROM settings WHERE key = %s", (key,)) == [(stored,)]
    logged = query(
        probe_database,
        "SELECT action, type FROM activity_logs WHERE entity_type = 'setting' AND entity_id = %s AND user_id = %s",
        (key, str(admin.id)),
    )
    assert logged == [("Setting Changed", "system")]


@pytest.mark.parametrize(
    ("key", "sent"),
    [
        ("tax_rate", 1.5),
        ("tax_rate", -0.01),
        ("tax_rate", "NaN"),
        ("tax_rate", "eight percent"),
        ("tax_rate", True),
        ("default_shipping_fee", 1.234),
        ("invoice_payment_terms_days", 2.5),
        ("allow_po_over_receipt", "maybe"),
        ("store_timezone", "Mars/Olympus_Mons"),
        ("store_timezone", 5),
    ],
)
async def test_values_that_do_not_fit_the_setting_are_400(make_client, admin, probe_database, key, sent):
    client = await make_client()
    before = query(probe_database, "SELECT value FROM settings WHERE key = %s", (key,))
    response = await client.put(f"/api/admin/settings/{key}", json={"value": sent}, headers=admin.headers)
    assert response.status == 400 and "value" in (await response.json())["details"]
    assert query(probe_database, "SELECT value FROM settings WHERE key = %s", (key,)) == before


async def test_unknown_keys_are_404_and_a_value_is_required(make_client, admin):
    client = await make_client()
    response = await client.put("/api/admin/settings/no_such_key", json={"value": 1}, headers=admin.headers)
    assert response.status == 404
    assert (await client.put("/api/admin/settings/tax_rate", json={}, headers=admin.headers)).status == 400


async def test_the_public_subset_follows_admin_changes(make_client, admin, restore_settings):
    client = await make_client()
    assert (await client.put("/api/admin/settings/tax_rate", json={"value": 0.05}, headers=admin.headers)).status == 200
    public = (await (await client.get("/api/settings/public")).json())["data"]
    assert public["tax_rate"] == 0.05 and "allow_po_over_receipt" not in public
