"""Test data: a published site whose domain is ``site.test``, and host pages carrying its tag."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

from cmp_server._utils import canonical_json, sha256_hex
from cmp_server.models import ConfigVersion, Site
from cmp_server.services import inventory, publishing, sites

from .servers import HOST


async def published_site(*, cookie_domain: str | None = None, lifetime_days: int = 180,
                         options: dict[str, Any] | None = None) -> Site:
    """Four default purposes, Google (statistics) and Meta (marketing) with their cookies.
    ``options``: banner options to change from the defaults (docs/contracts.md)."""
    site = await sites.create_site(
        "Embed test", [HOST], policy_url=f"http://{HOST}/policy",
        cookie_domain=cookie_domain, consent_lifetime_days=lifetime_days, force=True,
    )
    if options:
        await sites.update_site(site, options=options)
    await inventory.add_vendor(
        site, key="google", name="Google", country="US",
        privacy_policy_url="https://policies.google.com/privacy",
        transfers_outside_eea=True, transfer_basis="EU-US Data Privacy Framework",
    )
    await inventory.add_vendor(site, key="meta", name="Meta Platforms", country="US")
    await inventory.add_item(site, name="cmp_consent", purpose="necessary", duration_days=180)
    await inventory.add_item(site, name="_ga", purpose="statistics", vendor="google",
                             duration_days=400, description={"en": "Tells visitors apart."})
    await inventory.add_item(site, name="_ga_", match="prefix", purpose="statistics",
                             vendor="google", duration_days=400)
    await inventory.add_item(site, name="stats_", match="prefix", kind="localStorage",
                             purpose="statistics", vendor="google")
    await inventory.add_item(site, name="_fbp", purpose="marketing", vendor="meta",
                             duration_days=90)
    await inventory.add_item(site, name="sess_pref", purpose="preferences", duration_days=None)
    await publishing.publish(site)
    return site


async def blocking_site(rules: list[dict[str, Any]], *, mode: str = "enforce",
                        options: dict[str, Any] | None = None) -> Site:
    """``published_site()`` whose published config carries automatic blocking's rules
    (docs/contracts.md, ``blocking``). The server derives them at publish time; here they are
    written into the published version as given, so the embed's tests choose them exactly."""
    site = await published_site(options=options)
    version = await ConfigVersion.filter(site=site).order_by("-number").first()
    assert version is not None
    config = json.loads(version.canonical_json)
    config["blocking"] = {"mode": mode, "rules": rules}
    body = canonical_json(config)
    version.canonical_json = body.decode()
    version.content_hash = sha256_hex(body)
    await version.save(update_fields=["canonical_json", "content_hash"])
    return site


@dataclass(frozen=True)
class Tag:
    """Where the tag comes from: the CMP server's origin (or the proxy's) and the site key."""

    origin: str
    site_key: str
    bust: str = ""

    @property
    def src(self) -> str:
        suffix = f"?v={self.bust}" if self.bust else ""
        return f"{self.origin}/v1/sites/{self.site_key}/cmp.js{suffix}"


# Blocked elements in document order: inline, src (slow, so order is tested), inline again,
# marketing inline, and a marketing iframe.
BLOCKED = """
<script type="text/plain" data-cmp-category="statistics">
  (window.ran = window.ran || []).push("stats-1");
</script>
<script type="text/plain" data-cmp-category="statistics"
        src="js/ran.js?name=stats-2&delay=0.3"></script>
<script type="text/plain" data-cmp-category="statistics">
  (window.ran = window.ran || []).push("stats-3");
</script>
<script type="text/plain" data-cmp-category="marketing">
  (window.ran = window.ran || []).push("marketing");
</script>
<iframe data-cmp-src="frame.html?name=ad" data-cmp-category="marketing" width="320" height="160"
        title="Advertising frame"></iframe>
"""


def page(tag: Tag | None, body: str = BLOCKED, *, lang: str = "en", head: str = "",
         title: str = "Host page") -> str:
    """A host page: the tag first in <head>, as the install snippet says."""
    script = f'<script src="{html.escape(tag.src)}"></script>' if tag else ""
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{title}</title>
{script}
{head}
</head>
<body>
<main>
<h1>{title}</h1>
<p>Some content of the host page.</p>
<p><a href="#" data-cmp-open>Change cookie choices</a></p>
{body}
</main>
</body>
</html>
"""
