"""Small factories for test data."""

from __future__ import annotations

import uuid
from typing import Any

from cmp_server.models import ConfigVersion, Site, Staff
from cmp_server.services import inventory, publishing, sites

ORIGIN = "https://www.shop.example"


async def published_site(
    name: str = "Shop", domains: tuple[str, ...] = ("shop.example",)
) -> tuple[Site, ConfigVersion]:
    site = await sites.create_site(
        name, list(domains), policy_url="https://shop.example/cookies", force=True
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
    await inventory.add_item(
        site,
        name="_ga",
        purpose="statistics",
        vendor="google",
        duration_days=400,
        description={"en": "Distinguishes visitors for statistics."},
    )
    await inventory.add_item(
        site, name="_ga_", match="prefix", purpose="statistics", vendor="google", duration_days=400
    )
    await inventory.add_item(site, name="cmp_consent", purpose="necessary", duration_days=180)
    version = await publishing.publish(site)
    return site, version


def receipt_body(version: int = 1, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "receipt_id": str(uuid.uuid4()),
        "consent_id": str(uuid.uuid4()),
        "config_version": version,
        "choices": {
            "necessary": True,
            "preferences": False,
            "statistics": True,
            "marketing": False,
        },
        "method": "custom",
        "layer": "second",
        "language": "sv",
        "page_url": "https://www.shop.example/kurser?x=1",
    }
    body.update(overrides)
    return body


PASSWORD = "correct horse battery staple"


async def staff_member(role: str = "owner", email: str | None = None) -> Staff:
    """A staff account with ``PASSWORD``."""
    from cmp_server.services import staff

    address = email or f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    return await staff.create_staff(address, PASSWORD, role, name=f"A {role}")
