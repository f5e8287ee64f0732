"""Choose and launch Chromium once, the same way for the scanner and the browser tests.

The choice is made in one place (like uvicorn's ``auto.py``): an explicit path wins
(``CMP_CHROMIUM`` read by the caller's settings, or the ``executable`` argument), then a
system Chromium from the distribution, then Playwright's own managed build
(``playwright install chromium``), signalled by ``executable_path=None``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Playwright

__all__ = [
    "BASE_ARGS",
    "PUBLIC_ONLY_ARGS",
    "PUBLIC_ONLY_PREFERENCES",
    "VISITOR_ARGS",
    "VISITOR_PREFERENCES",
    "find_chromium",
    "launch_chromium",
    "new_visitor_context",
    "visitor_browser",
    "visitor_user_agent",
    "webrtc_script",
    "write_visitor_profile",
]

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


# Chromium keeps the third-party cookie choice in a profile preference, not in a switch:
# ``profile.cookie_controls_mode`` 0 = allow, 1 = block in incognito, 2 = block. Debian's build
# and every Playwright ``new_context()`` (an off-the-record profile) block, which hides exactly
# the cookies a scan must find (IDE, fr, YSC, ...), and storage in third-party iframes with them.
# So a scan runs in a persistent profile whose Preferences file allows them, as a default Chrome
# install does. Verified by tests/scanner/test_browser.py.
VISITOR_PREFERENCES: dict[str, object] = {
    "profile": {"cookie_controls_mode": 0, "block_third_party_cookies": False},
}

# A public-only scan's browser reaches the network only through its proxy (``_proxy.py``).
# What would not go through it stays off: QUIC (``--disable-quic``, in BASE_ARGS), WebRTC's
# UDP and DNS-over-HTTPS' own resolver. The WebRTC switch alone does not hold (STUN packets
# left a scan with it); the profile's policy does, and ``_webrtc.js`` removes the API on top.
PUBLIC_ONLY_ARGS: tuple[str, ...] = (
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--enforce-webrtc-ip-permission-check",
)
PUBLIC_ONLY_PREFERENCES: dict[str, object] = {
    "webrtc": {
        "ip_handling_policy": "disable_non_proxied_udp",
        "multiple_routes_enabled": False,
        "nonproxied_udp_enabled": False,
    },
}
# Local State (the browser's, not the profile's): DNS-over-HTTPS off, names resolved by the
# proxy as every connection goes through it.
_PUBLIC_ONLY_LOCAL_STATE: dict[str, object] = {"dns_over_https": {"mode": "off"}}


@functools.cache
def webrtc_script() -> str:
    """The init script that removes WebRTC from a public-only scan's pages."""
    return files("scanner").joinpath("_webrtc.js").read_text(encoding="utf-8")


# Look like an ordinary visitor: banners and bot walls test ``navigator.webdriver`` and the
# "HeadlessChrome" user-agent token.
VISITOR_ARGS: tuple[str, ...] = ("--disable-blink-features=AutomationControlled",)


def visitor_user_agent(major: int | None) -> str:
    """A desktop Chrome user agent without the ``HeadlessChrome`` token.

    >>> visitor_user_agent(140).split(") ")[-1]
    'Chrome/140.0.0.0 Safari/537.36'
    """
    # Chrome itself reports only the major version ("user-agent reduction").
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major or 140}.0.0.0 Safari/537.36"
    )


def write_visitor_profile(user_data_dir: Path, *, public_only: bool = False) -> None:
    """Prepare an empty Chromium profile directory with the visitor preferences (and, for a
    public-only scan, WebRTC and DNS-over-HTTPS off)."""
    default = user_data_dir / "Default"
    default.mkdir(parents=True, exist_ok=True)
    preferences = {**VISITOR_PREFERENCES, **(PUBLIC_ONLY_PREFERENCES if public_only else {})}
    (default / "Preferences").write_text(json.dumps(preferences), encoding="utf-8")
    if public_only:
        (user_data_dir / "Local State").write_text(json.dumps(_PUBLIC_ONLY_LOCAL_STATE),
                                                   encoding="utf-8")


@contextlib.asynccontextmanager
async def visitor_browser(
    playwright: Playwright,
    *,
    executable: str | None = None,
    args: Sequence[str] = (),
    headless: bool = True,
    public_only: bool = False,
) -> AsyncIterator[Browser]:
    """Chromium on a throwaway profile whose preferences match a default desktop Chrome
    (``public_only``: with WebRTC and DNS-over-HTTPS off, for a scan behind the proxy).

    The profile is opened as a persistent context only to carry the preferences; the scan
    opens fresh contexts on the returned browser (``new_visitor_context``), and those
    off-the-record contexts inherit "third-party cookies allowed" from it.
    """
    with tempfile.TemporaryDirectory(prefix="cmp-scan-profile-") as profile:
        write_visitor_profile(Path(profile), public_only=public_only)
        holder = await playwright.chromium.launch_persistent_context(
            profile,
            executable_path=find_chromium(executable),
            args=[*BASE_ARGS, *VISITOR_ARGS, *(PUBLIC_ONLY_ARGS if public_only else ()), *args],
            headless=headless,
        )
        try:
            browser = holder.browser
            if browser is None:  # pragma: no cover - only for Android/Electron contexts
                raise RuntimeError("persistent context without a browser")
            yield browser
        finally:
            await holder.close()


async def new_visitor_context(
    browser: Browser, *, ignore_https_errors: bool = False
) -> BrowserContext:
    """A fresh, empty context that looks like an ordinary visitor's browser window."""
    major = int(browser.version.split(".", 1)[0]) if browser.version[:1].isdigit() else None
    return await browser.new_context(
        ignore_https_errors=ignore_https_errors,
        user_agent=visitor_user_agent(major),
        viewport={"width": 1366, "height": 900},
        locale="en-US",
        # Requests a service worker makes are invisible to page events; a first visit
        # rarely has one anyway.
        service_workers="block",
    )
