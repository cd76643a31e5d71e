"""Sign-in throttling against the real database: counts, refusals, windows, the slow-down."""

from __future__ import annotations

import uuid

import pytest

from jaan.db.pool import Database, PoolConfig
from jaan.shop.accounts import throttle
from jaan.shop.accounts.throttle import Attempt, attempt_succeeded, claim_attempt, delay_for, remove_stale
from jaan.web.errors import TooManyRequests
from tests.conftest import settings_for_tests


@pytest.fixture
async def database(probe_database):
    database = Database(PoolConfig(dsn=probe_database, min_size=1, max_size=2))
    await database.open()
    yield database
    await database.close()


@pytest.fixture
def settings(probe_database):
    # The pair and the account alike lock at 3: the account's count is what these tests read.
    return settings_for_tests(
        probe_database, signin_max_failures=3, signin_max_failures_per_account=3, signin_max_failures_per_address=5
    )


def keys() -> tuple[str, str]:
    unique = uuid.uuid4().hex[:10]
    return f"{unique}@example.com", f"test-address-{unique}"


async def claim(database, settings, email, address) -> Attempt:
    async with database.transaction() as cur:
        return await claim_attempt(cur, settings, email, address)


async def counts(database, email, address) -> dict[str, tuple[int, bool]]:
    rows = await database.fetch_all(
        "SELECT scope, failures, locked_until IS NOT NULL AS locked FROM signin_failures"
        " WHERE (scope, key) IN (('email', %s), ('address', %s))",
        (email, address),
    )
    return {row["scope"]: (row["failures"], row["locked"]) for row in rows}


async def test_each_attempt_counts_for_the_email_and_the_address(database, settings):
    email, address = keys()
    first = await claim(database, settings, email, address)
    second = await claim(database, settings, email, address)
    assert (first.email_failures, first.address_failures) == (1, 1)
    assert (second.email_failures, second.address_failures) == (2, 2)


async def test_reaching_the_limit_locks_and_a_refusal_is_not_counted(database, settings):
    email, address = keys()
    for _ in range(3):
        await claim(database, settings, email, address)
    assert await counts(database, email, address) == {"email": (3, True), "address": (3, False)}

    with pytest.raises(TooManyRequests) as refused:
        await claim(database, settings, email, address)
    assert refused.value.message == "Too many failed sign-in attempts, try again later"
    assert 1 <= int((refused.value.headers or {})["Retry-After"]) <= settings.signin_window
    # Rolled back: neither the email's nor the address's count moved.
    assert await counts(database, email, address) == {"email": (3, True), "address": (3, False)}


async def test_the_lock_lasts_a_window_from_the_failure_that_reached_it(database, settings):
    email, address = keys()
    for _ in range(2):
        await claim(database, settings, email, address)
    # The first failures are ten minutes old: the window has five minutes left when the third comes.
    await database.execute(
        "UPDATE signin_failures SET window_started_at = now() - interval '10 minutes'"
        " WHERE scope = 'email' AND key = %s",
        (email,),
    )
    await claim(database, settings, email, address)
    with pytest.raises(TooManyRequests) as refused:
        await claim(database, settings, email, address)
    assert int((refused.value.headers or {})["Retry-After"]) >= settings.signin_window - 5


async def test_a_passed_window_starts_the_count_afresh(database, settings):
    email, address = keys()
    for _ in range(3):
        await claim(database, settings, email, address)
    await database.execute(
        "UPDATE signin_failures SET window_started_at = now() - interval '2 hours',"
        " locked_until = now() - interval '1 hour' WHERE key IN (%s, %s, %s)",
        (email, address, throttle.pair_key(email, address)),
    )
    attempt = await claim(database, settings, email, address)
    assert (attempt.email_failures, attempt.address_failures) == (1, 1)
    assert await counts(database, email, address) == {"email": (1, False), "address": (1, False)}


async def test_a_success_forgets_the_email_and_takes_one_off_the_address(database, settings):
    email, address = keys()
    await claim(database, settings, email, address)
    attempt = await claim(database, settings, email, address)
    async with database.transaction() as cur:
        await attempt_succeeded(cur, attempt)
    assert await counts(database, email, address) == {"address": (1, False)}


async def test_the_address_limit_refuses_any_email(database, settings):
    _, address = keys()
    for _ in range(5):
        await claim(database, settings, keys()[0], address)
    with pytest.raises(TooManyRequests):
        await claim(database, settings, keys()[0], address)


async def test_remove_stale_deletes_only_passed_unlocked_windows(database, settings):
    (stale, _), (current, _), (locked, _) = keys(), keys(), keys()
    for email in (stale, current, locked):
        await claim(database, settings, email, f"addr-{email}")
    await database.execute(
        "UPDATE signin_failures SET window_started_at = now() - interval '2 hours' WHERE key IN (%s, %s)",
        (stale, locked),
    )
    await database.execute(
        "UPDATE signin_failures SET locked_until = now() + interval '1 minute' WHERE key = %s", (locked,)
    )
    async with database.transaction() as cur:
        await remove_stale(cur, settings)
    remaining = await database.fetch_all(
        "SELECT key FROM signin_failures WHERE scope = 'email' AND key IN (%s, %s, %s)", (stale, current, locked)
    )
    assert {row["key"] for row in remaining} == {current, locked}


def test_the_slow_down_grows_towards_the_lock_and_is_capped(settings):
    def delay(email_failures: int, address_failures: int = 1) -> float:
        return delay_for(Attempt("e", "a", email_failures, address_failures), settings)

    assert delay(1) == 0
    assert 0 < delay(2) < delay(3) <= throttle.MAX_DELAY
    assert delay(1, address_failures=5) > 0
    assert delay(50, 50) == throttle.MAX_DELAY == 1.0


async def test_the_pair_locks_before_the_account(database, probe_database):
    settings = settings_for_tests(probe_database, signin_max_failures=2, signin_max_failures_per_account=10)
    email, attacker = keys()
    for _ in range(2):
        await claim(database, settings, email, attacker)
    with pytest.raises(TooManyRequests):
        await claim(database, settings, email, attacker)
    owner = await claim(database, settings, email, keys()[1])  # another address: still counted, not refused
    assert (owner.pair_failures, owner.email_failures) == (1, 3)


def test_ipv6_clients_are_counted_by_their_64():
    from jaan.web.client_address import limit_key

    assert limit_key("2001:db8:1:2::1") == limit_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1")
    assert limit_key("198.51.100.7") == "198.51.100.7"
