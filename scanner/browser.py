"""Choose and launch Chromium once, the same way for the scanner and the browser tests.

The choice is made in one place (like uvicorn's ``auto.py``): an explicit path wins
(``CMP_CHROMIUM`` read by the caller's settings, or the ``executable`` argument), then a
system Chromium from the distribution, then Playwright's own managed build
(``playwright install chromium``), signalled by ``executable_path=None``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

__all__ = ["BASE_ARGS", "find_chromium", "launch_chromium"]

# Flags that keep a headless Chromium quiet on a closed network: no background calls home,
# no component updates, no first-run UI. --no-sandbox because CI runs as root.
BASE_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
)

_SYSTEM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium(executable: str | None = None) -> str | None:
    """Return the Chromium binary to use, or ``None`` for Playwright's managed build.

    >>> find_chromium("/opt/chrome/chrome")
    '/opt/chrome/chrome'
    """
    if executable:
        if not Path(executable).exists() and shutil.which(executable) is None:
            raise FileNotFoundError(f"Chromium not found at {executable!r}")
        return shutil.which(executable) or executable
    for name in _SYSTEM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


async def launch_chromium(
    playwright: Playwright,
    *,
    executable: str | None = None,
    args: Sequence[str] = (),
    headless: bool = True,
) -> Browser:
    return await playwright.chromium.launch(
        executable_path=find_chromium(executable),
        args=[*BASE_ARGS, *args],
        headless=headless,
    )
