"""The demo: a site whose domains are this machine, published, and a page carrying its tag.

The page is in the visitor's language: ``?lang=`` (its language switch), else the best of the
site's languages in ``Accept-Language``, else the site's default. It says so in ``<html lang>``,
which the embed reads first, so the banner and the declaration on it follow.
"""

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

__all__ = ["DEMO_NAME", "demo_hosts", "demo_language", "demo_routes", "ensure_demo_site"]

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
        description={
            "en": "Stores your cookie choices.",
            "sv": "Sparar dina val om kakor.",
            "da": "Gemmer dine valg om cookies.",
        },
    )
    await inventory.add_item(
        site,
        name="_ga",
        purpose="statistics",
        vendor="google",
        duration_days=400,
        description={
            "en": "Google Analytics: tells visitors apart.",
            "sv": "Google Analytics: skiljer besökare åt.",
            "da": "Google Analytics: skelner mellem besøgende.",
        },
    )
    await inventory.add_item(
        site,
        name="_ga_",
        match="prefix",
        purpose="statistics",
        vendor="google",
        duration_days=400,
        description={
            "en": "Google Analytics: keeps the session state.",
            "sv": "Google Analytics: håller reda på sessionen.",
            "da": "Google Analytics: holder styr på sessionen.",
        },
    )
    await inventory.add_item(
        site,
        name="_fbp",
        purpose="marketing",
        vendor="meta",
        duration_days=90,
        description={
            "en": "Meta Pixel: identifies the browser for ads.",
            "sv": "Meta-pixeln: känner igen webbläsaren för annonser.",
            "da": "Meta-pixlen: genkender browseren til annoncer.",
        },
    )
    await publishing.publish(site, published_by="demo")
    if page_url is not None:
        await scans.request_scan(site, start_url=page_url, max_pages=5,
                                 requested_by="demo", allow_private=True)
    return site, login


# The demo page's own words; a language not here gets the English ones (the banner and the
# declaration on it are still in that language: they are the site's).
_PAGE: dict[str, dict[str, str]] = {
    "en": {
        "intro": "This page carries the site's consent tag. Accept, reject or customise in the "
                 "banner; the choice is recorded as a consent receipt by the server.",
        "snippet": "Install snippet", "prefs": "Preferences script",
        "stats": "Statistics script", "ads": "Marketing script", "blocked": "blocked",
        "running": "running", "change": "Change my cookie choices",
        "declaration": "Cookie declaration", "config": "Published config",
        "declaration_json": "Declaration (JSON)", "language": "Language",
    },
    "sv": {
        "intro": "Den här sidan har webbplatsens samtyckestagg. Godkänn, avvisa eller anpassa i "
                 "bannern; servern sparar valet som ett samtyckeskvitto.",
        "snippet": "Kod att installera", "prefs": "Skript för inställningar",
        "stats": "Statistikskript", "ads": "Marknadsföringsskript", "blocked": "blockerat",
        "running": "körs", "change": "Ändra mina val om kakor",
        "declaration": "Kakor på webbplatsen", "config": "Publicerad konfiguration",
        "declaration_json": "Kakdeklaration (JSON)", "language": "Språk",
    },
    "da": {
        "intro": "Denne side har sitets samtykketag. Accepter, afvis eller tilpas i banneret; "
                 "serveren gemmer valget som en samtykkekvittering.",
        "snippet": "Kode til installation", "prefs": "Script til præferencer",
        "stats": "Statistikscript", "ads": "Markedsføringsscript", "blocked": "blokeret",
        "running": "kører", "change": "Skift mine cookievalg",
        "declaration": "Cookiedeklaration", "config": "Offentliggjort konfiguration",
        "declaration_json": "Cookiedeklaration (JSON)", "language": "Sprog",
    },
}
# Each language named in itself, for the switch.
_AUTONYMS = {"en": "English", "sv": "Svenska", "da": "Dansk", "no": "Norsk", "nb": "Norsk",
             "fi": "Suomi", "de": "Deutsch", "fr": "Français", "nl": "Nederlands"}


def demo_language(
    languages: list[str], default: str, asked: str | None, accept_language: str | None
) -> str:
    """``asked`` (``?lang=``) when it is one of ``languages``; else the first of them the
    ``Accept-Language`` header prefers (by ``q``, then order; ``sv-SE`` counts as ``sv``; at
    most 20 entries read); else ``default``."""
    if asked in languages:
        return str(asked)
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:1000].split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, index, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        for lang in languages:
            if tag == lang.lower() or tag.split("-")[0] == lang.lower():
                return lang
    return default


def demo_routes(site_key: str) -> list[Route]:
    async def page(request: Request) -> Response:
        site = await Site.get_or_none(key=site_key)
        languages = list(site.languages) if site else ["en"]
        default = site.default_language if site else "en"
        language = demo_language(languages, default, request.query_params.get("lang"),
                                 request.headers.get("accept-language"))
        html = _templates.get_template("demo.html").render(
            name=DEMO_NAME,
            language=language,
            t=_PAGE.get(language.split("-")[0], _PAGE["en"]),
            switch=[(lang, _AUTONYMS.get(lang.split("-")[0], lang)) for lang in languages],
            script_url=f"/v1/sites/{site_key}/cmp.js",
            config_url=f"/v1/sites/{site_key}/config",
            declaration_url=f"/v1/sites/{site_key}/declaration?lang={language}",
        )
        # Caches keep one copy per language the page was asked in.
        return HTMLResponse(html, headers={"Vary": "Accept-Language",
                                           "Content-Language": language})

    async def root(request: Request) -> Response:
        return RedirectResponse("/demo/")

    return [Route("/demo/", page), Route("/", root)]
