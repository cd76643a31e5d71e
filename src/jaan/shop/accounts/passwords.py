"""Password hashing with scrypt (memory-hard), computed off the event loop.

Stored as ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>`` (base64), so the cost can be raised later
and old hashes still verify.  Unknown accounts are checked against a dummy hash of the same
cost, so a sign-in takes as long whether or not the email is registered.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets

_R, _P = 8, 1


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * r * n + (1 << 20), dklen=32)


def hash_password_sync(password: str, cost: int) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, cost, _R, _P)
    b64 = base64.b64encode
    return f"scrypt${cost}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password_sync(password: str, stored: str) -> bool:
    try:
        scheme, cost, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, base64.b64decode(salt), int(cost), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


async def hash_password(password: str, cost: int) -> str:
    return await asyncio.get_running_loop().run_in_executor(None, hash_password_sync, password, cost)


async def verify_password(password: str, stored: str | None, cost: int) -> bool:
    """Check a password; with no stored hash (unknown account) spend the same time and say no."""
    loop = asyncio.get_running_loop()
    if stored is None:
        await loop.run_in_executor(None, verify_password_sync, password, _dummy_hash(cost))
        return False
    return await loop.run_in_executor(None, verify_password_sync, password, stored)


@functools.cache
def _dummy_hash(cost: int) -> str:
    return hash_password_sync(secrets.token_hex(16), cost)
