"""Infrastructure for the embed's browser tests: the real CMP server, the host site, Chromium.

Test data is in ``factories.py``; the servers in ``servers.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from scanner.browser import launch_chromium

from .factories import Tag, published_site
from .servers import RESOLVER_RULES, CmpServer, HostServer, running

AXE = Path(__file__).resolve().parents[2] / "embed" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="package")
def cmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CmpServer]:
    server = CmpServer(tmp_path_factory.mktemp("embed-db"))
    with running(server):
        yield server


@pytest.fixture(scope="package")
def host() -> Iterator[HostServer]:
    server = HostServer()
    with running(server):
        yield server


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await launch_chromium(p, args=[f"--host-resolver-rules={RESOLVER_RULES}"])
        yield b
        await b.close()


@dataclass
class Visit:
    """One test's browser context and page, with every error the page threw."""

    context: BrowserContext
    page: Page
    errors: list[str]

    async def new_page(self) -> Page:
        p = await self.context.new_page()
        p.on("pageerror", lambda e: self.errors.append(str(e)))
        return p


@asynccontextmanager
async def visiting(browser: Browser, **options: Any) -> AsyncIterator[Visit]:
    """A fresh browser context (``options`` for ``new_context``) and page; fails the test if
    the page threw."""
    context = await browser.new_context(locale="en-US", **options)
    errors: list[str] = []
    page = await context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    v = Visit(context, page, errors)
    yield v
    await context.close()
    assert not v.errors, f"the page threw: {v.errors}"


@pytest.fixture
async def visit(browser: Browser) -> AsyncIterator[Visit]:
    async with visiting(browser) as v:
        yield v


@pytest.fixture
async def tag(cmp: CmpServer) -> Tag:
    site = await cmp.call(published_site())
    return Tag(cmp.origin, site.key)


@pytest.fixture
def path() -> str:
    """A fresh path on the host site for this test's pages."""
    return f"/{uuid.uuid4().hex[:12]}/"
