"""HTTP metrics in one process, and who may read /metrics."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from jaan import metrics


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def scrape(client, **headers: str) -> str:
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return await response.text()


async def test_requests_are_counted_by_route_template_and_status(make_client):
    client = await make_client()
    before = await scrape(client)
    for slug in ("a", "b", "c"):
        await client.get(f"/api/products/slug/{slug}-nowhere")
    await client.get("/no/such/route")
    after = await scrape(client)

    def rise(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    route = "/api/products/slug/{slug}"
    assert rise("jaan_http_requests_total", method="GET", route=route, status="404") == 3
    assert rise("jaan_http_requests_total", method="GET", route="unmatched", status="404") == 1
    count = "jaan_http_request_duration_seconds_count"
    assert rise(count, method="GET", route=route, status_class="4xx") == 3
    # No label ever carries the raw path: the catalogue's slugs cannot grow the series.
    assert "nowhere" not in after and "/no/such/route" not in after


async def test_every_metric_of_the_issue_is_exposed(make_client):
    client = await make_client()
    await client.get("/api/products")
    names = {family.name for family in text_string_to_metric_families(await scrape(client))}
    wanted = {
        "jaan_http_requests",
        "jaan_http_request_duration_seconds",
        "jaan_http_in_flight",
        "jaan_db_pool_connections",
        "jaan_db_acquire_seconds",
        "jaan_db_query_seconds",
        "jaan_listen_up",
        "jaan_cache_requests",
        "jaan_workers",
        "jaan_worker_restarts",
        "jaan_orders_placed",
        "jaan_orders_refused_for_stock",
        "jaan_idempotent_replays",
        "jaan_signin_failures",
        "jaan_signin_throttled",
    }
    assert wanted <= names
    assert all(name.startswith("jaan_") for name in metrics.declared())


async def test_a_client_behind_a_trusted_proxy_may_not_scrape(make_client):
    client = await make_client(trusted_proxies=("127.0.0.1",))
    refused = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert refused.status == 403
    assert (await refused.json())["success"] is False
    # The proxy itself (no forwarded client) and a loopback client it relays may.
    await scrape(client)
    await scrape(client, **{"X-Forwarded-For": "127.0.0.1"})


async def test_metrics_scrapers_opens_it_to_listed_networks(make_client):
    client = await make_client(trusted_proxies=("127.0.0.1",), metrics_scrapers=("203.0.113.0/24",))
    await scrape(client, **{"X-Forwarded-For": "203.0.113.7"})
    refused = await client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.1"})
    assert refused.status == 403


async def test_a_failed_sign_in_is_counted(make_client, make_account):
    client = await make_client()
    account = make_account()
    before = await scrape(client)
    response = await client.post("/api/auth/signin", json={"email": account.email, "password": "wrong password!"})
    assert response.status == 401
    after = await scrape(client)
    assert sample(after, "jaan_signin_failures_total") - sample(before, "jaan_signin_failures_total") == 1
