"""What the admin's browser tests share: one Chromium per test module (the test hosts of
``embed.servers`` resolve to this machine; no other name does), one server per module
(``SERVER_SETTINGS`` in the module: settings changed from the tests' defaults), and where
screenshots go (``CMP_TEST_SCREENSHOTS`` when set, for someone to look at; a temporary
directory else). A module that needs other browser flags or another server defines its own
``browser`` or ``server``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from scanner.browser import launch_chromium

from ..embed.servers import RESOLVER_RULES, CmpServer, running


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await launch_chromium(p, args=[f"--host-resolver-rules={RESOLVER_RULES}"])
        yield b
        await b.close()


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CmpServer]:
    s = CmpServer(tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2]))
    if changed := getattr(request.module, "SERVER_SETTINGS", None):
        s.settings = s.settings.model_copy(update=changed)
    with running(s):
        yield s


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("CMP_TEST_SCREENSHOTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
