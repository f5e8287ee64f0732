"""The scanner's browser sees what a default desktop Chrome sees."""

import pytest
from playwright.async_api import async_playwright

from scanner.browser import new_visitor_context, visitor_browser
from tests.scanner.fakeweb import FakeWeb

pytestmark = pytest.mark.browser


async def test_third_party_cookies_and_storage_are_allowed(web: FakeWeb) -> None:
    # Debian's Chromium and Playwright's default contexts block both; a scan must not.
    async with async_playwright() as p, visitor_browser(p, args=web.browser_args) as browser:
        context = await new_visitor_context(browser, ignore_https_errors=True)
        page = await context.new_page()
        await page.goto(web.url("www.news.test"))
        frame = page.frame_locator("iframe[src*=youtube]")
        await frame.locator("#player").wait_for()
        jar = {(c["name"], c["domain"]) for c in await context.cookies()}
        assert ("YSC", ".youtube.com") in jar
        assert ("VISITOR_INFO1_LIVE", ".youtube.com") in jar
        youtube = next(f for f in page.frames if "youtube" in f.url)
        assert await youtube.evaluate("localStorage.getItem('yt-remote-device-id') !== null")
        await context.close()


async def test_it_does_not_look_automated(web: FakeWeb) -> None:
    async with async_playwright() as p, visitor_browser(p, args=web.browser_args) as browser:
        context = await new_visitor_context(browser, ignore_https_errors=True)
        page = await context.new_page()
        await page.goto(web.url("www.kafe.test"))
        webdriver, agent = await page.evaluate("[navigator.webdriver, navigator.userAgent]")
        assert webdriver is False
        assert "HeadlessChrome" not in agent and "Chrome/" in agent
        await context.close()
