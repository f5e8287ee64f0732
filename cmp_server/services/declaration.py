"""The cookie declaration: a published config's inventory grouped by purpose, in one language,
for the site's cookie policy page (``GET /v1/sites/{key}/declaration``). Computed once per
published version and language (``configs.Published.declaration``)."""

from __future__ import annotations

from typing import Any

from ..schemas import ConfigVendor, PublishedConfig

__all__ = ["declaration_of"]


def declaration_of(config: PublishedConfig, language: str | None) -> dict[str, Any]:
    """The declaration in ``language`` (the site's default when it is not one of its own),
    as the JSON body of ``GET /v1/sites/{key}/declaration``. An item's description is in
    that language or empty, never another language's (``services/translations.py``)."""
    lang = str(language if language in config.languages else config.default_language)

    def pick(values: dict[str, str]) -> str:
        return values.get(lang) or values.get(config.default_language) or ""

    vendors: dict[str | None, ConfigVendor] = {v.key: v for v in config.vendors}
    purposes = []
    for purpose in config.purposes:
        items = []
        for c in config.cookies:
            if c.purpose != purpose.key:
                continue
            # An item without a vendor is the site's own: no transfer.
            vendor = vendors.get(c.vendor)
            items.append({
                "name": c.name,
                "match": c.match,
                "kind": c.kind,
                "domain": c.domain,
                "vendor": vendor.name if vendor else None,
                "vendor_country": vendor.country if vendor else None,
                # None: the vendor's transfers are not known yet.
                "transfers_outside_eea": vendor.transfers_outside_eea if vendor else False,
                "transfer_basis": vendor.transfer_basis if vendor else None,
                "duration_days": c.duration_days,
                "party": c.party,
                "description": c.description.get(lang, ""),
            })
        purposes.append(
            {
                "key": purpose.key,
                "name": pick(purpose.name),
                "description": pick(purpose.description),
                "required": purpose.required,
                "items": items,
            }
        )
    return {
        "site_key": config.site_key,
        "version": config.version,
        "language": lang,
        "purposes": purposes,
    }
