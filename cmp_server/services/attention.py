"""What needs attention on each site: the dashboard's first page after signing in.

Per site: inventory items waiting for review or without a purpose, the last scan's
violations, when the last scan ran and the next is due, whether the draft differs from the
published version, the consents of the last seven days with the accept and reject rates, and
each language the banner or the declaration is not complete in.
Every number is counted by the database (the consents from the daily counters)."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.functions import Count

from ..models import ConfigVersion, InventoryItem, Site
from . import analytics, drafts, publishing, translations
from .scan_history import ScanOverview, scan_overview

__all__ = ["SiteAttention", "attention"]


@dataclass(frozen=True)
class SiteAttention:
    site: Site
    unreviewed: int
    unmapped: int  # in the inventory without a purpose: left out of the banner
    scans: ScanOverview
    published: int | None  # the latest version's number; None: never published
    draft_changed: bool  # the draft says something the published version does not
    consents: analytics.Recent
    languages: tuple[translations.LanguageStatus, ...] = ()

    @property
    def incomplete(self) -> tuple[translations.LanguageStatus, ...]:
        """The languages a visitor would miss words in (``translations.completeness``)."""
        return tuple(s for s in self.languages if not s.complete)

    @property
    def needs_attention(self) -> bool:
        return bool(self.unreviewed or self.unmapped or self.scans.violations
                    or self.scans.review or self.draft_changed or self.published is None
                    or self.incomplete)


async def _inventory_counts(site_ids: list[int]) -> dict[int, tuple[int, int]]:
    unreviewed = dict(
        await InventoryItem.filter(site_id__in=site_ids, review_status="unreviewed")
        .annotate(n=Count("id")).group_by("site_id").values_list("site_id", "n")
    )
    unmapped = dict(
        await InventoryItem.filter(site_id__in=site_ids, purpose_id__isnull=True)
        .exclude(review_status="gone")
        .annotate(n=Count("id")).group_by("site_id").values_list("site_id", "n")
    )
    return {i: (int(unreviewed.get(i, 0)), int(unmapped.get(i, 0))) for i in site_ids}


async def _draft_changed(site: Site) -> tuple[int | None, bool]:
    latest = await ConfigVersion.filter(site=site).order_by("-number").first()
    if latest is None:
        return None, True
    draft = await drafts.draft_config(site)
    published = publishing.parse_config(latest)
    return latest.number, publishing.fingerprint(draft) != publishing.fingerprint(published)


async def attention(sites: list[Site]) -> list[SiteAttention]:
    ids = [s.id for s in sites]
    inventory = await _inventory_counts(ids)
    consents = await analytics.recent_by_site(7, site_ids=ids)
    out = []
    for site in sites:
        published, changed = await _draft_changed(site)
        unreviewed, unmapped = inventory[site.id]
        out.append(SiteAttention(
            site=site, unreviewed=unreviewed, unmapped=unmapped,
            scans=await scan_overview(site), published=published, draft_changed=changed,
            consents=consents.get(site.id) or await analytics.recent(site, 7),
            languages=await translations.completeness(site),
        ))
    return out
