"""`/api/docs`: an interactive reference of the OpenAPI document that needs nothing but this API."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"  # Debian's; `make test` installs it


class _Resources(HTMLParser):
    """Every script and stylesheet a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.stylesheets: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.scripts.append(values.get("src"))  # None: an inline script
        elif tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(values.get("href"))


async def test_the_page_loads_only_what_this_api_serves_and_reads_the_openapi_document(make_client):
    client = await make_client()
    response = await client.get("/api/docs")
    assert response.status == 200 and response.content_type == "text/html"
    # A browser may load nothing from anywhere else, nor run an inline script.
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy
    page = _Resources()
    page.feed(await response.text())
    assert page.scripts and page.stylesheets and None not in page.scripts
    bodies = {}
    for url in [*page.scripts, *page.stylesheets]:
        assert url is not None and url.startswith("/api/docs/"), f"{url} is not served by this API"
        asset = await client.get(url)
        assert asset.status == 200, url
        assert asset.content_type == ("text/css" if url.endswith(".css") else "text/javascript"), url
        bodies[url] = await asset.read()
    assert any(b'"/api/openapi.json"' in body for body in bodies.values())
    assert all(len(body) > 100 for body in bodies.values())


async def test_page_files_revalidate_and_nothing_else_is_served(make_client):
    client = await make_client()
    first = await client.get("/api/docs/swagger-ui.css")
    assert first.headers["Cache-Control"] == "public, max-age=86400"
    again = await client.get("/api/docs/swagger-ui.css", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304
    for name in ("swagger-editor.js", "swagger-ui-bundle.js.map", "..%2F..%2Fcore.py", "LICENSE"):
        assert (await client.get(f"/api/docs/{name}")).status == 404, name


async def test_a_headless_browser_renders_every_route_offline(make_client, tmp_path: Path):
    """Debian's chromium, with no network but this API's socket, lists every documented path."""
    assert shutil.which(CHROMIUM), "chromium is missing: `make test` installs it (apt-get install chromium)"
    client = await make_client()
    document = await (await client.get("/api/openapi.json")).json()
    browser = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={tmp_path / 'profile'}",
        # Run the page's scripts (and their fetch of the document) before the DOM is dumped.
        "--virtual-time-budget=20000",
        "--dump-dom",
        str(client.make_url("/api/docs")),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        dom, _ = await asyncio.wait_for(browser.communicate(), timeout=90)
    finally:
        if browser.returncode is None:  # the browser and its helpers (its own session)
            os.killpg(browser.pid, signal.SIGKILL)
            await browser.wait()
    rendered = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom.decode()))
    assert rendered == set(document["paths"]), "the page did not render the document's routes"
    assert "/api/admin/inventory" in rendered and "/api/docs" in rendered
