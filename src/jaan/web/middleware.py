"""How the service's middlewares are marked as new-style, in one place.

aiohttp 3 tells a new-style middleware (``async def m(request, handler)``) from an old-style
factory by the ``__middleware_version__`` attribute that ``@web.middleware`` sets; an unmarked one
is taken for a factory, with a DeprecationWarning. aiohttp's main branch (4.0) treats every
middleware as new-style and deprecates ``@web.middleware`` itself. Setting the attribute here
works on both without a warning: aiohttp 4 ignores it, and dropping this decorator later is one
change per middleware, found by grepping for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

# A middleware function, or a method that is one once bound.
M = TypeVar("M", bound=Callable[..., Awaitable[web.StreamResponse]])


def middleware(function: M) -> M:
    """Mark `function` as a new-style middleware (what web.middleware does, without its future warning)."""
    function.__middleware_version__ = 1  # type: ignore[attr-defined]
    return function
