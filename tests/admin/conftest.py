"""What the admin's browser tests share: one Chromium per test module, and where screenshots
go (``CMP_TEST_SCREENSHOTS`` when set, for someone to look at; a temporary directory else).
A module that needs other browser flags defines its own ``browser``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from scanner.browser import launch_chromium


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await launch_chromium(p)
        yield b
        await b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("CMP_TEST_SCREENSHOTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
