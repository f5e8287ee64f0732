"""Sites: create one (owners), and one site's settings page with its install snippet.

Everyone signed in may read a site's settings; owners change them. The consent mode mapping
and the GPC purposes are checked against the site's purposes by ``sites.update_site``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

from pydantic import Field, field_validator
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from cmp_server.errors import as_value_error
from cmp_server.schemas import ConsentSignal
from cmp_server.services import revisions, sites

from ._conflicts import meanwhile, version_of, without_form_error
from ._conflicts import read_at as _read_at
from ._forms import UNREFUSED, Form, Refusal, one_line, save_form, text_of
from ._pages import render
from ._security import requires

if TYPE_CHECKING:
    from cmp_server.models import Site

__all__ = ["routes"]

SIGNALS: tuple[str, ...] = get_args(ConsentSignal)
MAX_DOMAINS = 50


def _split(value: str) -> list[str]:
    return [part for part in value.replace(",", "\n").split() if part]


class SiteForm(Form):
    """What the site form sends; each value is checked by the service's own rule, so the
    error lands beside its field."""

    name: str = Field(min_length=1, max_length=sites.MAX_NAME)
    domains: list[str] = Field(min_length=1, max_length=MAX_DOMAINS)
    languages: list[str] = Field(min_length=1, max_length=20)
    default_language: str = Field(default="", max_length=20)
    policy_url: str = Field(default="", max_length=sites.MAX_URL)
    cookie_domain: str = Field(default="", max_length=255)
    consent_lifetime_days: int = Field(default=180, ge=1, le=395)
    receipt_retention_days: int = Field(default=1095, ge=1, le=sites.MAX_RETENTION_DAYS)
    force: bool = False

    _name = field_validator("name")(one_line)

    @field_validator("domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        return [as_value_error(sites.normalise_domain, v) for v in values]

    @field_validator("languages")
    @classmethod
    def _languages(cls, values: list[str]) -> list[str]:
        return as_value_error(sites.check_languages, values)

    @field_validator("policy_url")
    @classmethod
    def _policy(cls, value: str) -> str:
        return as_value_error(sites.check_url, value, "the policy URL") or ""

    @field_validator("cookie_domain")
    @classmethod
    def _cookie_domain(cls, value: str) -> str:
        return as_value_error(sites.check_cookie_domain, value) or ""


class OptionsForm(Form):
    """Global Privacy Control and Google Consent Mode: which purposes each one names."""

    gpc_honour: bool = False
    gpc_purposes: list[str] = []
    consent_mode_enabled: bool = False
    consent_mode_map: dict[str, list[str]] = {}
    wait_for_update: int = Field(default=500, ge=0, le=10000)
    region: list[str] = Field(default=[], max_length=300)
    ads_data_redaction: bool = False
    url_passthrough: bool = False

    def as_options(self, current: dict[str, Any]) -> dict[str, Any]:
        return {
            "gpc": {"honour": self.gpc_honour, "purposes": self.gpc_purposes},
            "consent_mode": {
                **dict(current.get("consent_mode") or {}),
                "enabled": self.consent_mode_enabled,
                "map": {signal: self.consent_mode_map.get(signal, []) for signal in SIGNALS},
                "wait_for_update": self.wait_for_update,
                "region": self.region,
                "ads_data_redaction": self.ads_data_redaction,
                "url_passthrough": self.url_passthrough,
            },
        }


def _site_values(form: FormData) -> dict[str, Any]:
    return {
        "name": text_of(form, "name"),
        "domains": _split(text_of(form, "domains")),
        "languages": _split(text_of(form, "languages")),
        "default_language": text_of(form, "default_language"),
        "policy_url": text_of(form, "policy_url"),
        "cookie_domain": text_of(form, "cookie_domain"),
        "consent_lifetime_days": text_of(form, "consent_lifetime_days") or 180,
        "receipt_retention_days": text_of(form, "receipt_retention_days") or 1095,
        "force": form.get("force") == "on",
    }


def _options_values(form: FormData) -> dict[str, Any]:
    return {
        "gpc_honour": form.get("gpc_honour") == "on",
        "gpc_purposes": [str(v) for v in form.getlist("gpc_purposes")],
        "consent_mode_enabled": form.get("consent_mode_enabled") == "on",
        "consent_mode_map": {
            signal: [str(v) for v in form.getlist(f"cm_{signal}")] for signal in SIGNALS
        },
        "wait_for_update": text_of(form, "wait_for_update") or 500,
        "region": [r.upper() for r in _split(text_of(form, "region"))],
        "ads_data_redaction": form.get("ads_data_redaction") == "on",
        "url_passthrough": form.get("url_passthrough") == "on",
    }


def _snippet(request: Request, key: str) -> dict[str, str]:
    base = request.app.state.settings.public_base_url.rstrip("/")
    return {
        "script": f'<script src="{base}/v1/sites/{key}/cmp.js"></script>',
        "declaration": "<div data-cmp-declaration></div>",
    }


class SettingsForm(SiteForm, OptionsForm):
    """The settings page's one form: the site's fields and its options."""


@requires("viewer", site=True, post="owner")
async def site_page(request: Request, site: Site) -> Response:
    if request.method != "POST":
        version = await revisions.stamp(revisions.settings(site))  # before the values
        site = await sites.get_site(site.key)
        return await _site_page(request, site, _current(site), version=version)
    form = await request.form()
    values = {**_site_values(form), **_options_values(form)}
    read_at = _read_at(form)

    async def again(refused: Refusal) -> Response:
        # What is stored, not the refused edit (update_site changed the object it was given).
        version = await revisions.stamp(revisions.settings(site))
        stored = await sites.get_site(site.key)
        return await _site_page(request, stored, values, refused, version=version,
                                read_at=read_at)

    saved = request.url_for("admin:site", key=site.key).path
    return await save_form(
        SettingsForm, values,
        lambda new: sites.update_site(
            site, name=new.name, domains=new.domains, languages=new.languages,
            default_language=new.default_language or None, policy_url=new.policy_url,
            cookie_domain=new.cookie_domain, consent_lifetime_days=new.consent_lifetime_days,
            receipt_retention_days=new.receipt_retention_days,
            options=new.as_options(site.options), force=new.force, by=request.state.actor,
            version=version_of(form),
        ),
        done=lambda _: RedirectResponse(f"{saved}?saved=1", 303), again=again,
    )


# The settings form's fields as a conflict compares them.
LABELS = {
    "name": "Name", "domains": "Domains", "languages": "Languages",
    "default_language": "Default language", "policy_url": "Cookie policy URL",
    "cookie_domain": "Cookie domain", "consent_lifetime_days": "Consent lifetime (days)",
    "receipt_retention_days": "Keep receipts for (days)",
    "gpc_honour": "Honour Global Privacy Control", "gpc_purposes": "GPC purposes",
    "consent_mode_enabled": "Consent Mode signals", "consent_mode_map": "Consent Mode map",
    "wait_for_update": "Consent Mode wait_for_update", "region": "Consent Mode regions",
    "ads_data_redaction": "ads_data_redaction", "url_passthrough": "url_passthrough",
}


async def _site_page(
    request: Request, site: Site, values: dict[str, Any], refused: Refusal = UNREFUSED, *,
    version: int, read_at: int | None = None,
) -> Response:
    """``site`` read after ``version``; ``values`` what the form shows."""

    async def stored() -> dict[str, Any]:
        return _current(await sites.get_site(site.key))

    conflict = await meanwhile(
        refused, revisions.settings(site), read_at, stored=stored, typed=values,
        labels=LABELS, discard=request.url_for("admin:site", key=site.key).path,
        form_id="form-site")
    return render(request, "admin/site.html", {
        "site": site, "tab": "site", "errors": without_form_error(refused),
        "version": conflict.version if conflict else version, "conflict": conflict,
        "refused": refused.code, "values": values,
        "purposes": await sites.purpose_keys(site), "signals": SIGNALS,
        "snippet": _snippet(request, site.key), "saved": "saved" in request.query_params,
    }, refused.status)


def _current(site: Any) -> dict[str, Any]:
    gpc = site.options.get("gpc", {})
    mode = site.options.get("consent_mode", {})
    return {
        "name": site.name, "domains": site.domains, "languages": site.languages,
        "default_language": site.default_language, "policy_url": site.policy_url or "",
        "cookie_domain": site.cookie_domain or "",
        "consent_lifetime_days": site.consent_lifetime_days,
        "receipt_retention_days": site.receipt_retention_days, "force": False,
        "gpc_honour": gpc.get("honour", False), "gpc_purposes": gpc.get("purposes", []),
        "consent_mode_enabled": mode.get("enabled", False),
        "consent_mode_map": mode.get("map", {}),
        "wait_for_update": mode.get("wait_for_update", 500),
        "region": mode.get("region", []),
        "ads_data_redaction": mode.get("ads_data_redaction", False),
        "url_passthrough": mode.get("url_passthrough", False),
    }


@requires("owner")
async def site_new(request: Request) -> Response:
    async def page(values: dict[str, Any], refused: Refusal = UNREFUSED) -> Response:
        return render(request, "admin/site_new.html", {
            "values": values, "errors": refused.errors,
            "refused": refused.code,
        }, refused.status)

    if request.method != "POST":
        return await page({"languages": ["sv", "en"], "default_language": "sv",
                           "consent_lifetime_days": 180, "receipt_retention_days": 1095})
    values = _site_values(await request.form())
    return await save_form(
        SiteForm, values,
        lambda new: sites.create_site(
            new.name, new.domains, languages=new.languages,
            default_language=new.default_language or new.languages[0],
            policy_url=new.policy_url or None, cookie_domain=new.cookie_domain or None,
            consent_lifetime_days=new.consent_lifetime_days,
            receipt_retention_days=new.receipt_retention_days, force=new.force,
            by=request.state.actor,
        ),
        done=lambda site: RedirectResponse(request.url_for("admin:site", key=site.key).path, 303),
        again=lambda refused: page(values, refused),
    )


routes = [
    Route("/sites/new", site_new, methods=["GET", "POST"], name="site_new"),
    Route("/sites/{key}", site_page, methods=["GET", "POST"], name="site"),
]
