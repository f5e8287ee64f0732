"""The cookie declaration: a published config's inventory grouped by purpose, in one language,
for the site's cookie policy page (``GET /v1/sites/{key}/declaration``). Computed once per
published version and language (``configs.Published.declaration``)."""

from __future__ import annotations

from typing import Any

__all__ = ["declaration_of"]

# An item without a vendor is the site's own: no transfer.
_NOBODY = {"name": None, "country": None, "transfers_outside_eea": False, "transfer_basis": None}


def declaration_of(config: dict[str, Any], language: str | None) -> dict[str, Any]:
    """The declaration in ``language`` (the site's default when it is not one of its own)."""
    lang = str(language if language in config["languages"] else config["default_language"])

    def pick(values: dict[str, str]) -> str:
        return values.get(lang) or values.get(config["default_language"]) or ""

    vendors = {v["key"]: v for v in config["vendors"]}
    purposes = []
    for purpose in config["purposes"]:
        items = []
        for c in config["cookies"]:
            if c["purpose"] != purpose["key"]:
                continue
            vendor = vendors.get(c["vendor"], _NOBODY)
            items.append({
                "name": c["name"],
                "match": c["match"],
                "kind": c["kind"],
                "domain": c["domain"],
                "vendor": vendor["name"],
                "vendor_country": vendor["country"],
                # None: the vendor's transfers are not known yet.
                "transfers_outside_eea": vendor["transfers_outside_eea"],
                "transfer_basis": vendor["transfer_basis"],
                "duration_days": c["duration_days"],
                "party": c["party"],
                "description": pick(c["description"]),
            })
        purposes.append(
            {
                "key": purpose["key"],
                "name": pick(purpose["name"]),
                "description": pick(purpose["description"]),
                "required": purpose["required"],
                "items": items,
            }
        )
    return {
        "site_key": config["site_key"],
        "version": config["version"],
        "language": lang,
        "purposes": purposes,
    }
