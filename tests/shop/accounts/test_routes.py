"""Sign-up, sign-in, sign-out and the signed-in user, over real sockets against the real database.

Each test signs in from its own client address (X-Forwarded-For through a trusted 127.0.0.1), so
the per-address counts of one test never reach another's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import uuid
from contextlib import closing
from http.cookies import SimpleCookie
from typing import Any

import psycopg2
import pytest

from jaan.shop.accounts import throttle
from jaan.web.client_address import limit_key

SHOP = "https://shop.example"
PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def quick_slow_down(monkeypatch):
    # The slow-down is pinned in test_throttle; here it would only make the tests slow.
    monkeypatch.setattr(throttle, "MAX_DELAY", 0.01)


def new_address() -> str:
    # A /64 of its own: rate limits count an IPv6 client by its /64.
    return str(ipaddress.IPv6Address((0x20010DB8 << 96) | random.getrandbits(96)))


def new_email() -> str:
    return f"buyer-{uuid.uuid4().hex[:10]}@example.com"


class Browser:
    """The web client: its own address, an allowed Origin, the cookie jar of the test client."""

    def __init__(self, client: Any, address: str | None = None) -> None:
        self.client = client
        self.address = address or new_address()

    def headers(self, token: str | None = None) -> dict[str, str]:
        headers = {"Origin": SHOP, "X-Forwarded-For": self.address}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def post(self, path: str, body: Any = None, token: str | None = None) -> Any:
        return await self.client.post(path, json=body, headers=self.headers(token))

    async def signup(self, email: str, password: str = PASSWORD, **extra: Any) -> Any:
        return await self.post("/api/auth/signup", {"email": email, "password": password, **extra})

    async def signin(self, email: str, password: str = PASSWORD) -> Any:
        return await self.post("/api/auth/signin", {"email": email, "password": password})

    async def me(self, token: str | None = None) -> Any:
        return await self.client.get("/api/auth/user", headers=self.headers(token))


@pytest.fixture
def browser(make_client):
    async def make(address: str | None = None, **settings: Any) -> Browser:
        settings.setdefault("cors_origins", (SHOP,))
        client = await make_client(trusted_proxies=("127.0.0.1",), **settings)
        return Browser(client, address)

    return make


def query(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def set_cookie_of(response: Any) -> Any:
    cookie = SimpleCookie()
    cookie.load(response.headers["Set-Cookie"])
    return cookie["session_token"]


# -- the whole journey --------------------------------------------------------------------------


async def test_sign_up_sign_in_by_cookie_and_bearer_then_sign_out_refuses_the_session(browser):
    web = await browser()
    email = new_email()

    signed_up = await web.signup(email, fullName="Asha Buyer")
    assert signed_up.status == 200
    body = await signed_up.json()
    assert set(body) == {"user", "session"}
    assert body["user"]["email"] == email
    assert body["user"]["full_name"] == "Asha Buyer"
    assert body["user"]["role"] == "user"
    assert set(body["session"]) >= {"id", "user_id", "token", "expires_at", "created_at"}
    assert body["session"]["user_id"] == body["user"]["id"]
    signup_token = body["session"]["token"]

    # The cookie the response set authenticates the next request by itself.
    by_cookie = await web.me()
    assert by_cookie.status == 200
    assert (await by_cookie.json())["user"]["email"] == email

    signed_in = await web.signin(email)
    assert signed_in.status == 200
    signed_in_body = await signed_in.json()
    assert signed_in_body["user"]["role"] == "user"
    bearer = signed_in_body["session"]["token"]
    assert bearer != signup_token

    web.client.session.cookie_jar.clear()
    by_bearer = await web.me(bearer)
    assert by_bearer.status == 200
    assert (await by_bearer.json())["user"] == {**signed_in_body["user"]}

    signed_out = await web.post("/api/auth/signout", token=bearer)
    assert signed_out.status == 200
    assert await signed_out.json() == {"message": "Signed out successfully"}
    refused = await web.me(bearer)
    assert refused.status == 401
    assert (await refused.json())["error"] == "Invalid or expired session"
    # The first session is a different one, still alive.
    assert (await web.me(signup_token)).status == 200


async def test_signed_in_user_without_a_session_is_401(browser):
    web = await browser()
    response = await web.me()
    assert response.status == 401
    assert (await response.json())["error"] == "Unauthorized"


# -- sign-up ------------------------------------------------------------------------------------


async def test_session_cookie_is_http_only_lax_and_lasts_the_session(browser):
    web = await browser(session_days=3)
    response = await web.signup(new_email())
    cookie = set_cookie_of(response)
    assert cookie.value == (await response.json())["session"]["token"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == str(3 * 24 * 3600)
    assert cookie["path"] == "/"
    assert not cookie["secure"]

    secure = await browser(cookie_secure=True)
    assert set_cookie_of(await secure.signup(new_email()))["secure"] is True


async def test_sign_up_writes_the_user_profile_session_and_activity_in_one_go(browser, probe_database):
    web = await browser()
    email = new_email()
    body = await (await web.signup(f"  {email.upper()} ")).json()
    user_id = body["user"]["id"]
    assert body["user"]["email"] == email  # trimmed and lower-cased

    assert query(probe_database, "SELECT email, role::text FROM users WHERE id = %s", (user_id,)) == [(email, "user")]
    assert query(probe_database, "SELECT count(*) FROM profiles WHERE user_id = %s", (user_id,)) == [(1,)]
    assert query(probe_database, "SELECT count(*) FROM sessions WHERE user_id = %s", (user_id,)) == [(1,)]
    assert query(
        probe_database,
        "SELECT type, action, user_email, ip_address FROM activity_logs WHERE user_id = %s",
        (user_id,),
    ) == [("user", "User Registered", email, web.address)]


async def test_sign_up_stores_a_scrypt_hash_never_the_password(browser, probe_database):
    web = await browser()
    email = new_email()
    await web.signup(email)
    [(stored,)] = query(probe_database, "SELECT password_hash FROM users WHERE email = %s", (email,))
    assert stored.startswith("scrypt$")
    assert PASSWORD not in stored
    rows = query(probe_database, "SELECT count(*) FROM activity_logs WHERE details::text LIKE %s", (f"%{PASSWORD}%",))
    assert rows == [(0,)]


async def test_duplicate_email_is_409_whatever_its_case(browser, probe_database):
    web = await browser()
    local = uuid.uuid4().hex[:8]
    assert (await web.signup(f"Buyer-{local}@X.com")).status == 200
    web.client.session.cookie_jar.clear()

    again = await web.signup(f"buyer-{local}@x.com", password="another long password")
    assert again.status == 409
    assert (await again.json()) == {"success": False, "error": "Email already exists"}
    assert query(probe_database, "SELECT count(*) FROM users WHERE email = %s", (f"buyer-{local}@x.com",)) == [(1,)]


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"password": PASSWORD}, "email", "is required"),
        ({"email": "EMAIL"}, "password", "is required"),
        ({"email": "not-an-email", "password": PASSWORD}, "email", "must be a valid email address"),
        ({"email": "EMAIL", "password": "too short"}, "password", "must be at least 10 characters"),
        ({"email": "EMAIL", "password": "x" * 201}, "password", "must be at most 200 characters"),
        ({"email": "EMAIL", "password": 1234567890123}, "password", "must be a string"),
        ({"email": "EMAIL", "password": PASSWORD, "fullName": 7}, "fullName", "must be a string"),
    ],
    ids=["no-email", "no-password", "bad-email", "weak-password", "huge-password", "number", "bad-name"],
)
async def test_invalid_sign_up_is_400_with_details_and_writes_nothing(browser, probe_database, body, field, detail):
    web = await browser()
    email = new_email()
    body = {key: (email if value == "EMAIL" else value) for key, value in body.items()}
    response = await web.post("/api/auth/signup", body)
    assert response.status == 400
    answer = await response.json()
    assert answer["success"] is False
    assert answer["details"][field] == detail
    assert query(probe_database, "SELECT count(*) FROM users WHERE email = %s", (email,)) == [(0,)]
    assert query(probe_database, "SELECT count(*) FROM activity_logs WHERE ip_address = %s", (web.address,)) == [(0,)]
    assert "Set-Cookie" not in response.headers


async def test_password_policy_follows_the_setting(browser):
    web = await browser(password_min_length=16)
    response = await web.signup(new_email(), password="fifteen chars!!")
    assert (await response.json())["details"] == {"password": "must be at least 16 characters"}
    assert (await web.signup(new_email(), password="sixteen chars!!!")).status == 200


async def test_malformed_json_is_400(browser):
    web = await browser()
    response = await web.client.post(
        "/api/auth/signup", data="{not json", headers={**web.headers(), "Content-Type": "application/json"}
    )
    assert response.status == 400
    assert (await response.json())["error"] == "Malformed JSON body"


# -- sign-in ------------------------------------------------------------------------------------


async def test_wrong_password_and_unknown_email_get_the_same_answer(browser, make_account):
    web = await browser()
    account = make_account()
    wrong_password = await web.signin(account.email, "not the password")
    unknown_email = await web.signin(new_email(), "not the password")
    assert wrong_password.status == unknown_email.status == 401
    expected = {"success": False, "error": "Invalid email or password"}
    assert await wrong_password.json() == await unknown_email.json() == expected
    assert "Set-Cookie" not in wrong_password.headers


async def test_sign_in_accepts_the_email_in_any_case(browser, make_account):
    web = await browser()
    account = make_account(password=PASSWORD)
    response = await web.signin(f" {account.email.upper()}", PASSWORD)
    assert response.status == 200
    assert (await response.json())["user"]["id"] == str(account.id)


async def test_sign_in_with_missing_fields_is_400(browser):
    web = await browser()
    response = await web.post("/api/auth/signin", {"email": new_email()})
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "Email and password are required"
    assert body["details"] == {"password": "is required"}


async def test_sign_ins_and_failures_are_logged_as_security_events(browser, make_account, probe_database):
    web = await browser()
    account = make_account(password=PASSWORD)
    unknown = new_email()
    await web.signin(account.email, "not the password")
    await web.signin(unknown, "not the password")
    await web.signin(account.email, PASSWORD)
    rows = query(
        probe_database,
        "SELECT action, severity, user_id, details->>'email' FROM activity_logs"
        " WHERE type = 'security' AND ip_address = %s ORDER BY id",
        (web.address,),
    )
    assert rows == [
        ("Sign-in Failed", "warning", str(account.id), account.email),
        ("Sign-in Failed", "warning", None, unknown),
        ("Signed In", "info", str(account.id), None),
    ]


# -- throttling ---------------------------------------------------------------------------------


async def test_after_the_limit_even_the_right_password_is_refused_with_retry_after(browser, make_account):
    web = await browser(signin_max_failures=3, signin_window=600)
    account = make_account(password=PASSWORD)
    for _ in range(3):
        assert (await web.signin(account.email, "not the password")).status == 401

    refused = await web.signin(account.email, PASSWORD)
    assert refused.status == 429
    assert await refused.json() == {
        "success": False,
        "error": "Too many failed sign-in attempts, try again later",
    }
    assert 590 <= int(refused.headers["Retry-After"]) <= 600
    assert "Set-Cookie" not in refused.headers
    # The lock is the attacker's address's: the owner, elsewhere, signs in.
    assert (await Browser(web.client).signin(account.email, PASSWORD)).status == 200


async def test_an_attacker_cannot_lock_the_owner_out(browser, make_account):
    """Many wrong passwords from one address (a /64) lock that address out of the account only."""
    attacker = await browser(signin_max_failures=5)
    account = make_account(password=PASSWORD)
    statuses = [(await attacker.signin(account.email, f"guess {n}")).status for n in range(20)]
    assert statuses == [401] * 5 + [429] * 15
    rotated = Browser(attacker.client, attacker.address.rsplit(":", 1)[0] + ":1")  # same /64, new /128
    assert (await rotated.signin(account.email, PASSWORD)).status == 429
    owner = Browser(attacker.client)
    assert (await owner.signin(account.email, PASSWORD)).status == 200


async def test_the_account_ceiling_holds_against_many_addresses(browser, make_account):
    web = await browser(signin_max_failures=5, signin_max_failures_per_account=6)
    account = make_account(password=PASSWORD)
    for _ in range(6):
        assert (await Browser(web.client).signin(account.email, "not the password")).status == 401
    refused = await Browser(web.client).signin(account.email, PASSWORD)
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0


async def test_a_successful_sign_in_resets_the_accounts_count(browser, make_account, probe_database):
    web = await browser(signin_max_failures=3)
    account = make_account(password=PASSWORD)
    for _ in range(2):
        await web.signin(account.email, "not the password")
    assert (await web.signin(account.email, PASSWORD)).status == 200
    for _ in range(2):
        assert (await web.signin(account.email, "not the password")).status == 401
    assert (await web.signin(account.email, PASSWORD)).status == 200
    counts = query(
        probe_database,
        "SELECT scope, failures FROM signin_failures WHERE key IN (%s, %s) ORDER BY scope",
        (account.email, limit_key(web.address)),
    )
    assert counts == [("address", 4)]


async def test_the_per_address_limit_refuses_every_account_from_that_address(browser, make_account):
    web = await browser(signin_max_failures=100, signin_max_failures_per_address=3)
    for _ in range(3):
        assert (await web.signin(new_email(), "not the password")).status == 401
    account = make_account(password=PASSWORD)
    assert (await web.signin(account.email, PASSWORD)).status == 429
    elsewhere = Browser(web.client)
    assert (await elsewhere.signin(account.email, PASSWORD)).status == 200


async def test_two_app_instances_share_one_count(browser, make_account):
    account = make_account(password=PASSWORD)
    first = await browser(signin_max_failures_per_account=4)
    second = await browser(signin_max_failures_per_account=4)
    for web in (first, second, first, second):
        assert (await web.signin(account.email, "not the password")).status == 401
    assert (await first.signin(account.email, PASSWORD)).status == 429
    assert (await second.signin(account.email, PASSWORD)).status == 429


async def test_concurrent_attempts_check_no_more_passwords_than_the_limit(browser, make_account):
    account = make_account(password=PASSWORD)
    first = await browser(signin_max_failures_per_account=3)
    second = await browser(signin_max_failures_per_account=3)
    attempts = [(first if i % 2 else second).signin(account.email, f"guess {i}") for i in range(12)]
    statuses = sorted(response.status for response in await asyncio.gather(*attempts))
    assert statuses == [401] * 3 + [429] * 9


# -- sign-out -----------------------------------------------------------------------------------


async def test_sign_out_by_cookie_deletes_the_session_row_and_clears_the_cookie(browser, probe_database):
    web = await browser()
    body = await (await web.signup(new_email())).json()
    session_id = body["session"]["id"]

    response = await web.post("/api/auth/signout")  # the cookie, with the web client's Origin
    assert response.status == 200
    cleared = set_cookie_of(response)
    assert cleared.value == ""
    assert cleared["max-age"] == "0"
    assert query(probe_database, "SELECT count(*) FROM sessions WHERE id = %s", (session_id,)) == [(0,)]
    assert (await web.me(body["session"]["token"])).status == 401


async def test_sign_out_by_cookie_from_another_site_is_refused(browser, probe_database):
    web = await browser()
    body = await (await web.signup(new_email())).json()
    response = await web.client.post("/api/auth/signout", headers={"Origin": "https://evil.example"})
    assert response.status == 403
    assert query(probe_database, "SELECT count(*) FROM sessions WHERE id = %s", (body["session"]["id"],)) == [(1,)]


@pytest.mark.parametrize("token", [None, "0" * 64], ids=["no-token", "unknown-token"])
async def test_sign_out_always_answers_200(browser, token):
    web = await browser()
    response = await web.post("/api/auth/signout", token=token)
    assert response.status == 200
    assert await response.json() == {"message": "Signed out successfully"}


@pytest.mark.parametrize("minimum", [10, 16])
async def test_the_openapi_document_shows_the_auth_bodies_with_the_configured_password_policy(browser, minimum):
    web = await browser(password_min_length=minimum)
    document = await (await web.client.get("/api/openapi.json")).json()
    signup = document["paths"]["/api/auth/signup"]["post"]
    reference = signup["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    assert schema["required"] == ["email", "password"]
    assert schema["properties"]["password"]["minLength"] == minimum
    assert document["paths"]["/api/auth/user"]["get"]["x-access"] == "user"
