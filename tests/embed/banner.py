"""Reading the banner and the page from a test: locators and small page-side snippets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from playwright.async_api import BrowserContext, Cookie, Locator, Page

TITLE = "Your choice about cookies"
PREFS = "Cookie settings"


def banner(page: Page) -> Locator:
    return page.get_by_role("region", name=TITLE)


def dialog(page: Page) -> Locator:
    return page.get_by_role("dialog", name=PREFS)


async def focused(page: Page) -> str:
    """Accessible text of the focused element, looking inside the banner's shadow root."""
    text: str = await page.evaluate(
        """() => {
            let el = document.activeElement;
            while (el && el.shadowRoot && el.shadowRoot.activeElement) {
                el = el.shadowRoot.activeElement;
            }
            if (!el) return '';
            return el.getAttribute('aria-label') || el.getAttribute('role') === 'dialog' && 'dialog'
                || el.getAttribute('role') === 'region' && 'region'
                || (el.labels && el.labels[0] && el.labels[0].textContent)
                || el.textContent.trim();
        }"""
    )
    return text


async def data_layer(page: Page) -> list[Any]:
    """``dataLayer`` with gtag's ``arguments`` objects turned into lists."""
    layer: list[Any] = await page.evaluate(
        """() => (window.dataLayer || []).map(
            (x) => Object.prototype.toString.call(x) === '[object Arguments]'
                ? Array.from(x) : x)"""
    )
    return layer


async def consent_cookie(page: Page) -> dict[str, Any] | None:
    cookie: dict[str, Any] | None = await page.evaluate(
        """() => {
            const m = document.cookie.match(/(?:^|; )cmp_consent=([^;]*)/);
            return m ? JSON.parse(decodeURIComponent(m[1])) : null;
        }"""
    )
    return cookie


async def settled(page: Page) -> None:
    """Wait until the embed has shown what it shows on load (first layer or floating button):
    it does so in the first frame after DOMContentLoaded (a rAF, then a task), so two frames
    and tasks later it has."""
    await page.wait_for_load_state("domcontentloaded")
    await page.evaluate("""() => new Promise((done) => requestAnimationFrame(() => setTimeout(
        () => requestAnimationFrame(() => setTimeout(done)))))""")


async def stored_cookies(context: BrowserContext,
                         until: Callable[[list[Cookie]], bool] = lambda _: True,
                         timeout: float = 10) -> list[Cookie]:
    """The cookies in the browser's store once ``until`` holds for them (or at the timeout).
    A ``document.cookie`` write reaches the store asynchronously (a message from the renderer
    to the network service, not ordered with the test's own request), so what the page has
    just written or deleted may not be there yet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        cookies = await context.cookies()
        if until(cookies) or loop.time() > deadline:
            return cookies
        await asyncio.sleep(0.05)


async def poll(page: Page, expression: str, timeout: float = 10) -> Any:
    """Evaluate until truthy. Unlike ``wait_for_function`` this needs no eval in the page, so it
    works under a CSP without 'unsafe-eval'."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await page.evaluate(expression)
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.05)
