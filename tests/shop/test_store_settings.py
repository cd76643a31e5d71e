"""The settings the storefront may read (#47)."""

from __future__ import annotations


async def test_public_settings_are_typed_and_only_the_public_ones(make_client):
    client = await make_client()
    response = await client.get("/api/settings/public")
    assert response.status == 200
    data = (await response.json())["data"]
    assert data["tax_rate"] == 0.08
    assert data["default_shipping_fee"] == 10
    assert data["free_shipping_threshold"] == 100
    assert "invoice_payment_terms_days" not in data and "allow_negative_stock" not in data
