"""The demo: a site whose domains are this machine, published, and a page carrying its tag."""

from __future__ import annotations

import contextlib
import secrets
import socket
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .models import Site, Staff
from .services import inventory, publishing, scans, sites, staff

__all__ = ["DEMO_NAME", "demo_hosts", "demo_routes", "ensure_demo_site"]

DEMO_NAME = "Demo course provider"

_templates = Environment(
    loader=PackageLoader("cmp_server", "templates"), autoescape=select_autoescape(["html"])
)


def demo_hosts(host: str) -> list[str]:
    """The names the demo is reached by: this machine, the host it listens on, and, when it
    listens on every interface, the machine's own network addresses (a phone on the LAN
    opens the page by one of them, and its receipts carry that origin)."""
    hosts = {"127.0.0.1", "localhost"}
    if host in ("0.0.0.0", "::"):
        hosts.update(_own_addresses())
    else:
        hosts.add(host)
    return sorted(hosts)


def _own_addresses() -> set[str]:
    found: set[str] = set()
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]))
    # The address of the interface a packet to the LAN would leave by; connecting a UDP
    # socket sends nothing.
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))
        found.add(s.getsockname()[0])
    return {a for a in found if "%" not in a}


DEMO_EMAIL = "owner@demo.example"


async def ensure_demo_owner(data_dir: Path) -> tuple[str, str]:
    """The demo's owner account and its password, made once and kept in ``data_dir`` (only
    this machine's user can read it) so that every start prints the same sign-in."""
    path = data_dir / "demo-login.txt"
    if path.exists() and await Staff.exists(email=DEMO_EMAIL):
        return DEMO_EMAIL, path.read_text().strip()
    password = secrets.token_urlsafe(12)
    await Staff.filter(email=DEMO_EMAIL).delete()
    await staff.create_staff(DEMO_EMAIL, password, "owner", name="Demo owner")
    data_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    return DEMO_EMAIL, password


async def ensure_demo_key(key_path: Path) -> None:
    """A checkpoint signing key for the demo, made once (``cmp-server keys create``)."""
    from .services.signing import create_key, list_keys

    if not key_path.exists() and not [k for k in await list_keys() if k.retired_at is None]:
        await create_key(key_path)


async def ensure_demo_site(
    hosts: list[str], data_dir: Path, page_url: str | None = None,
    key_path: Path | None = None,
) -> tuple[Site, tuple[str, str]]:
    """The demo site, created once (its domains follow the hosts served on, at each start),
    and the demo owner's sign-in. A new demo site also gets a scan of its own page
    (``page_url``) queued: the server's worker runs it, and what it finds beyond the four
    cookies declared here waits in the inventory as unreviewed, for staff to map."""
    login = await ensure_demo_owner(data_dir)
    if key_path is not None:
        await ensure_demo_key(key_path)
    site = await Site.get_or_none(name=DEMO_NAME)
    if site is not None:
        if sorted(site.domains) != sorted(hosts):
            await sites.update_site(site, domains=hosts, force=True)
        return site, login
    site = await sites.create_site(
        DEMO_NAME, hosts, policy_url="/demo/#declaration", force=True
    )
    await inventory.add_vendor(
        site,
        key="google",
        name="Google",
        country="US",
        privacy_policy_url="https://policies.google.com/privacy",
        transfers_outside_eea=True,
        transfer_basis="EU-US Data Privacy Framework",
    )
    await inventory.add_vendor(
        site,
        key="meta",
        name="Meta Platforms",
        country="US",
        privacy_policy_url="https://www.facebook.com/privacy/policy/",
        transfers_outside_eea=True,
        transfer_basis="EU-US Data Privacy Framework",
    )
    await inventory.add_item(
        site,
        name="cmp_consent",
        purpose="necessary",
        duration_days=180,
        description={"en": "Stores your cookie choices."},
    )
    await inventory.add_item(
        site,
        name="_ga",
        purpose="statistics",
        vendor="google",
        duration_days=400,
        description={"en": "Google Analytics: tells visitors apart."},
    )
    await inventory.add_item(
        site,
        name="_ga_",
        match="prefix",
        purpose="statistics",
        vendor="google",
        duration_days=400,
        description={"en": "Google Analytics: keeps the session state."},
    )
    await inventory.add_item(
        site,
        name="_fbp",
        purpose="marketing",
        vendor="meta",
        duration_days=90,
        description={"en": "Meta Pixel: identifies the browser for ads."},
    )
    await publishing.publish(site, published_by="demo")
    if page_url is not None:
        await sites.update_site(site, scan_url=page_url)
        await scans.request_scan(site, start_url=page_url, max_pages=5,
                                 requested_by="demo", allow_private=True)
    return site, login


def demo_routes(site_key: str) -> list[Route]:
    async def page(request: Request) -> Response:
        html = _templates.get_template("demo.html").render(
            name=DEMO_NAME,
            script_url=f"/v1/sites/{site_key}/cmp.js",
            config_url=f"/v1/sites/{site_key}/config",
            declaration_url=f"/v1/sites/{site_key}/declaration",
        )
        return HTMLResponse(html)

    async def root(request: Request) -> Response:
        return RedirectResponse("/demo/")

    return [Route("/demo/", page), Route("/", root)]
