"""Tallies: counts kept in the process and written in batches give the same metrics as direct writes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from jaan import metrics
from tests.waiting import eventually
from tests.web.test_http_metrics import sample


def _metrics_in(registry: CollectorRegistry) -> tuple[Histogram, Counter]:
    histogram = Histogram("t_seconds", "t", ("route",), buckets=metrics.LATENCY_BUCKETS, registry=registry)
    return histogram, Counter("t_requests", "t", ("route",), registry=registry)


def _without_created(text: bytes) -> str:
    return "\n".join(line for line in text.decode().splitlines() if "_created" not in line)


def test_a_flushed_tally_shows_what_direct_observations_show():
    # The same histogram and counter twice: written directly, and tallied.
    direct, tallied = CollectorRegistry(), CollectorRegistry()
    (d_hist, d_count), (t_hist, t_count) = _metrics_in(direct), _metrics_in(tallied)
    hist_tally, count_tally = metrics.Tally(t_hist), metrics.Tally(t_count)
    # On bucket bounds (counted in that bucket: le), between them, past the last, and zero.
    values = [0.0, 0.0005, 0.0007, 0.001, 0.05, 0.051, 3.0, 30.0, 31.0, 0.0005]
    for i, value in enumerate(values):
        route = "/a" if i % 3 else "/b"
        d_hist.labels(route).observe(value)
        d_count.labels(route).inc()
        hist_tally.observe(value, route)
        count_tally.add(route)
    assert sample(generate_latest(tallied).decode(), "t_requests_total", route="/a") == 0  # not written yet
    metrics.flush_tallies()
    assert _without_created(generate_latest(tallied)) == _without_created(generate_latest(direct))
    assert sample(generate_latest(tallied).decode(), "t_seconds_bucket", route="/b", le="0.0005") == 2


async def test_counts_made_on_a_loop_are_written_soon_without_being_asked():
    registry = CollectorRegistry()
    counter = Counter("t_soon", "t", ("cache",), registry=registry)
    hit = metrics.Tally(counter).counting("response")
    for _ in range(3):
        hit()

    def written() -> bool:
        return sample(generate_latest(registry).decode(), "t_soon_total", cache="response") == 3

    await eventually(written)
