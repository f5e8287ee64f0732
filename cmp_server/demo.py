"""The demo: a site whose domains are this machine, published, and a page carrying its tag."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .models import Site
from .services import inventory, publishing, sites

__all__ = ["DEMO_NAME", "demo_routes", "ensure_demo_site"]

DEMO_NAME = "Demo course provider"

_templates = Environment(
    loader=PackageLoader("cmp_server", "templates"), autoescape=select_autoescape(["html"])
)


async def ensure_demo_site(hosts: list[str]) -> Site:
    site = await Site.get_or_none(name=DEMO_NAME)
    if site is not None:
        return site
    site = await sites.create_site(DEMO_NAME, hosts, policy_url="/demo/#declaration")
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
    return site


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
