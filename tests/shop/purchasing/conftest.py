"""Suppliers, products and purchase orders for the purchasing tests."""

from __future__ import annotations

import uuid

import pytest

from tests.shop.orders.conftest import Shop


class Purchasing:
    """Arranges suppliers and purchase orders through the API, and reads the database directly."""

    def __init__(self, client, admin, shop: Shop) -> None:
        self.client, self.admin, self.shop = client, admin, shop

    async def supplier(self, **fields) -> dict:
        body = {"name": f"Supplier {uuid.uuid4().hex[:8]}", **fields}
        response = await self.client.post("/api/admin/suppliers", json=body, headers=self.admin.headers)
        assert response.status == 200, await response.text()
        return (await response.json())["data"]

    async def purchase_order(self, supplier_id: int, *lines: tuple[int, int, str], **fields) -> dict:
        body = {
            "supplier_id": supplier_id,
            "items": [{"product_id": p, "quantity": q, "unit_price": price} for p, q, price in lines],
            **fields,
        }
        response = await self.client.post("/api/admin/purchase-orders", json=body, headers=self.admin.headers)
        assert response.status == 201, await response.text()
        return (await response.json())["data"]

    async def move(self, po_id: int, status: str, **extra):
        return await self.client.put(
            f"/api/admin/purchase-orders/{po_id}/status", json={"status": status, **extra}, headers=self.admin.headers
        )

    async def receive(self, po_id: int, *receipts: tuple[int, int]):
        body = {"items": [{"item_id": i, "received_quantity": q} for i, q in receipts]}
        return await self.client.post(
            f"/api/admin/purchase-orders/{po_id}/receive-items", json=body, headers=self.admin.headers
        )

    def actions(self, entity_type: str, entity_id) -> list[str]:
        """The activity recorded about an entity, oldest first."""
        rows = self.shop.query(
            "SELECT action FROM activity_logs WHERE entity_type = %s AND entity_id = %s ORDER BY id",
            (entity_type, str(entity_id)),
        )
        return [action for (action,) in rows]


@pytest.fixture
def shop(probe_database) -> Shop:
    return Shop(probe_database)


@pytest.fixture
async def purchasing(make_client, admin, shop) -> Purchasing:
    return Purchasing(await make_client(), admin, shop)
