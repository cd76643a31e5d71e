"""The contact form and the admins' inbox."""

from __future__ import annotations

import uuid

import psycopg2
import pytest

FORM = {
    "fullName": "Amina Diallo",
    "companyName": "Diallo Fine Foods",
    "businessEmail": "Buyer@DialloFoods.example",
    "phoneNumber": "+1 (555) 010-4477",
    "message": "We would like wholesale prices for basmati rice and lentils.",
}


def count_submissions(dsn: str, company: str) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM contact_submissions WHERE company_name = %s", (company,))
        (count,) = cur.fetchone()
    conn.close()
    return int(count)


def unique_form(**changes):
    return {**FORM, "companyName": f"Co {uuid.uuid4().hex[:12]}", **changes}


async def test_submission_is_stored_and_acknowledged(make_client, probe_database):
    client = await make_client()
    form = unique_form()
    response = await client.post("/api/contact", json=form)
    assert response.status == 201
    body = await response.json()
    assert body["success"] is True and body["message"]
    assert body["data"]["status"] == "new"
    assert body["data"]["business_email"] == "buyer@diallofoods.example"
    assert count_submissions(probe_database, form["companyName"]) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fullName", ""),
        ("fullName", "A"),
        ("companyName", "x" * 101),
        ("businessEmail", "not-an-email"),
        ("phoneNumber", "123"),
        ("phoneNumber", "call me maybe!"),
        ("message", "hi"),
        ("message", "x" * 2001),
    ],
)
async def test_invalid_fields_are_400_and_nothing_is_stored(make_client, probe_database, field, value):
    client = await make_client()
    form = unique_form(**{field: value})
    response = await client.post("/api/contact", json=form)
    assert response.status == 400
    assert field in (await response.json())["details"]
    assert count_submissions(probe_database, form["companyName"]) == 0


async def test_missing_fields_are_named(make_client):
    client = await make_client()
    response = await client.post("/api/contact", json={})
    assert set((await response.json())["details"]) == set(FORM)


async def test_inbox_is_admin_only(make_client, customer):
    client = await make_client()
    assert (await client.get("/api/admin/contact-submissions")).status == 401
    assert (await client.get("/api/admin/contact-submissions", headers=customer.headers)).status == 403


async def test_inbox_pages_filters_and_searches(make_client, admin):
    client = await make_client()
    marker = uuid.uuid4().hex[:10]
    for n in range(3):
        await client.post("/api/contact", json=unique_form(fullName=f"Buyer {marker} {n}"))
    response = await client.get(
        "/api/admin/contact-submissions",
        params={"search": marker, "perPage": "2", "status": "new"},
        headers=admin.headers,
    )
    assert response.status == 200
    page = (await response.json())["data"]
    assert (page["total"], page["per_page"], page["perPage"], page["total_pages"]) == (3, 2, 2, 2)
    assert len(page["data"]) == 2 and all(marker in row["full_name"] for row in page["data"])
    past_end = await client.get(
        "/api/admin/contact-submissions", params={"search": marker, "page": "9"}, headers=admin.headers
    )
    assert (await past_end.json())["data"]["data"] == [] and (await past_end.json())["data"]["total"] == 3


@pytest.mark.parametrize("query", [{"perPage": "0"}, {"perPage": "500"}, {"page": "x"}, {"status": "lost"}])
async def test_inbox_refuses_bad_query_values(make_client, admin, query):
    client = await make_client()
    response = await client.get("/api/admin/contact-submissions", params=query, headers=admin.headers)
    assert response.status == 400


async def test_first_view_marks_read_and_shows_it(make_client, admin):
    client = await make_client()
    created = await (await client.post("/api/contact", json=unique_form())).json()
    path = f"/api/admin/contact-submissions/{created['data']['id']}"
    first = (await (await client.get(path, headers=admin.headers)).json())["data"]
    assert first["status"] == "read" and first["read_at"] is not None
    second = (await (await client.get(path, headers=admin.headers)).json())["data"]
    assert second["read_at"] == first["read_at"]


async def test_status_change_delete_and_activity(make_client, admin, probe_database):
    client = await make_client()
    created = await (await client.post("/api/contact", json=unique_form())).json()
    path = f"/api/admin/contact-submissions/{created['data']['id']}"
    assert (await client.put(path, json={"status": "lost"}, headers=admin.headers)).status == 400
    changed = await client.put(path, json={"status": "resolved"}, headers=admin.headers)
    assert (await changed.json())["data"]["status"] == "resolved"
    deleted = await client.delete(path, headers=admin.headers)
    assert await deleted.json() == {"success": True, "message": "Submission deleted successfully"}
    assert (await client.get(path, headers=admin.headers)).status == 404
    with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:
        cur.execute("SELECT action FROM activity_logs WHERE entity_id = %s ORDER BY id", (created["data"]["id"],))
        actions = [row[0] for row in cur.fetchall()]
    conn.close()
    assert actions == [
        "Contact Submission Received",
        "Contact Submission Updated",
        "Contact Submission Deleted",
    ]


@pytest.mark.parametrize("method", ["get", "put", "delete"])
async def test_unknown_or_malformed_id_is_404(make_client, admin, method):
    client = await make_client()
    for bad in (str(uuid.uuid4()), "not-a-uuid"):
        response = await getattr(client, method)(
            f"/api/admin/contact-submissions/{bad}", json={"status": "read"}, headers=admin.headers
        )
        assert response.status == 404
