"""The demo customers ``bin/seed`` writes: ``customer<N>@example.com``, one password for all."""

from __future__ import annotations

import random
from typing import Any

from jaan.cli.seeding.rows import copy_rows
from jaan.cli.seeding.words import FIRST_NAMES, LAST_NAMES
from jaan.shop.accounts.passwords import hash_password_sync


def write_demo_customers(cur: Any, rng: random.Random, count: int, password: str, password_cost: int) -> None:
    """Write `count` customers through psycopg2 cursor `cur`."""
    # One hash for every demo customer: hashing 200 passwords at production cost would take
    # most of a minute, and demo accounts need no separate salts.
    password_hash = hash_password_sync(password, password_cost)
    copy_rows(
        cur,
        "users",
        ("email", "password_hash", "full_name", "role", "email_confirmed_at"),
        (
            (
                f"customer{n}@example.com",
                password_hash,
                f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                "user",
                "now",
            )
            for n in range(1, count + 1)
        ),
    )
