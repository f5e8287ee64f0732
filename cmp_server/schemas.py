"""Shapes at the edge: what clients send and get back. Validation happens here (pydantic)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal, get_args
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    field_validator,
)

__all__ = [
    "LAYOUTS",
    "Appearance",
    "BannerButtons",
    "BannerColors",
    "BannerLogo",
    "BannerOptions",
    "BlockingRule",
    "ConfigBlocking",
    "ConfigCookie",
    "ConfigOptions",
    "ConfigPurpose",
    "ConfigVendor",
    "ErrorOut",
    "METHODS",
    "METHOD_LABELS",
    "Method",
    "PublishedConfig",
    "ReceiptHistoryOut",
    "ReceiptIn",
    "ReceiptOut",
    "ReceiptView",
]

Method = Literal["accept_all", "reject_all", "custom", "withdraw", "gpc"]
# Stored methods are only ever added to (DESIGN.md): add a new one here, with its label.
METHODS: tuple[str, ...] = get_args(Method)
# How staff read each method, on every page and in the CLI.
METHOD_LABELS: dict[str, str] = {
    "accept_all": "Accept all",
    "reject_all": "Reject all",
    "custom": "Custom",
    "withdraw": "Withdraw",
    "gpc": "GPC",
}

# What the two databases do not store alike: PostgreSQL refuses a NUL in text and in JSON (and
# so a whole batch of receipts), SQLite keeps it; a lone surrogate is no UTF-8 at all. The
# other controls (C0, DEL, C1) and the noncharacters (U+FDD0-U+FDEF, U+xFFFE and U+xFFFF of
# every plane) have no business in a URL, a key or a language tag either.
_NONCHARACTERS = "".join(chr(plane + 0xFFFE) + chr(plane + 0xFFFF)
                         for plane in range(0, 0x110000, 0x10000))
_UNSTORABLE = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef{_NONCHARACTERS}]")


def _storable(value: str) -> str:
    if (found := _UNSTORABLE.search(value)) is not None:
        raise ValueError(
            "must not contain control characters, noncharacters or lone surrogates "
            f"(found U+{ord(found[0]):04X})"
        )
    return value


def _not_nil(value: UUID) -> UUID:
    if value.int == 0:
        raise ValueError("must not be the nil UUID: generate a random one")
    return value


Text = Annotated[str, AfterValidator(_storable)]
PurposeKey = Annotated[Text, StringConstraints(min_length=1, max_length=40)]
RandomId = Annotated[UUID, AfterValidator(_not_nil)]


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receipt_id: RandomId
    consent_id: RandomId
    # Strict: ``true`` or ``"1"`` is not a version (pydantic would read both as 1).
    config_version: Annotated[int, Strict()] = Field(ge=1, le=2**31 - 1)
    choices: dict[PurposeKey, StrictBool] = Field(min_length=1, max_length=64)
    method: Method
    layer: Literal["first", "second"]
    # At most the column's 8 characters (PostgreSQL refuses more, SQLite would keep them).
    language: str = Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", max_length=8)
    # The pattern states the http(s) rule in the OpenAPI document; _http_url explains it.
    page_url: Text = Field(min_length=1, max_length=2048, pattern=r"^https?://")

    @field_validator("page_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("page_url must be an http(s) URL")
        return value


class ReceiptOut(BaseModel):
    receipt_id: UUID
    consent_id: UUID
    recorded_at: datetime
    expires_at: datetime


class ReceiptView(BaseModel):
    """One receipt as the visitor sees it in their history."""

    receipt_id: UUID
    consent_id: UUID
    config_version: int
    texts_hash: str
    language: str
    choices: dict[str, bool]
    method: str
    layer: str
    page_url: str
    recorded_at: datetime
    expires_at: datetime
    previous_receipt_id: UUID | None
    record_hash: str


class ReceiptHistoryOut(BaseModel):
    receipts: list[ReceiptView]


class ErrorOut(BaseModel):
    error: str
    detail: str


ConsentSignal = Literal[
    "ad_storage",
    "ad_user_data",
    "ad_personalization",
    "analytics_storage",
    "functionality_storage",
    "personalization_storage",
    "security_storage",
]


class GpcOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    honour: bool = True
    purposes: list[PurposeKey] = ["marketing"]


class ConsentModeOptions(BaseModel):
    """Google Consent Mode v2: which purposes grant each signal (all of them must be granted)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    map: dict[ConsentSignal, list[PurposeKey]]
    wait_for_update: int = Field(default=500, ge=0, le=10000)
    region: list[Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]] = []
    ads_data_redaction: bool = True
    url_passthrough: bool = False


class BannerOptions(BaseModel):
    """A site's banner options (the draft's ``options``), checked before they are stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cookie_name: str = Field(default="cmp_consent", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    floating_button: bool = True
    # A script that already ran keeps running (and setting its cookies) until the page goes:
    # reload when a purpose is withdrawn whose blocked scripts ran on this page.
    reload_on_withdraw: bool = True
    # Automatic blocking of unmodified tags by the published rules: "report" blocks nothing
    # and says what it would block (try it safely first), "off" publishes no rules.
    auto_blocking: Literal["enforce", "report", "off"] = "enforce"
    gpc: GpcOptions = GpcOptions()
    consent_mode: ConsentModeOptions

    def purpose_keys(self) -> set[str]:
        keys = set(self.gpc.purposes)
        for purposes in self.consent_mode.map.values():
            keys.update(purposes)
        return keys


# The published config (docs/contracts.md, "Published banner config"): built once by
# ``publishing.build_config``, stored as canonical JSON per version, inlined into ``cmp.js``,
# and read back as this model wherever the server needs a fact of it. The embed's JSDoc
# typedefs (embed/src/config.js) name the same fields (tests/test_schemas.py holds them to it).
# Stored versions are read with ``extra="ignore"``: a key an older version carried and this
# model no longer knows is no reason to refuse the proof of what a visitor was shown.
I18n = dict[str, str]


class _Published(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ConfigPurpose(_Published):
    key: str
    required: bool
    name: I18n
    description: I18n


class ConfigVendor(_Published):
    key: str
    name: str
    country: str | None
    privacy_policy_url: str | None
    # None: not known yet (a vendor a scan found that the knowledge base has no facts for).
    transfers_outside_eea: bool | None
    transfer_basis: str | None
    purposes: list[str]


class ConfigCookie(_Published):
    """An inventory item as the banner and the declaration show it."""

    name: str
    match: Literal["exact", "prefix"]
    kind: str  # cookie | localStorage | sessionStorage | indexedDB
    domain: str | None
    vendor: str | None
    purpose: str | None
    duration_days: int | None  # None: a session cookie
    party: str  # first | third
    description: I18n


class ConfigOptions(BannerOptions):
    """The site's banner options with the two that have columns of their own."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    consent_lifetime_days: int
    cookie_domain: str | None


class BlockingRule(_Published):
    """A resource whose URL's host is ``host`` or under it and whose path starts with ``path``
    waits until every purpose in ``purposes`` is granted; of several rules, the most specific
    (longest host, then path) decides, so one without purposes is an exemption."""

    host: str
    path: str = ""
    purposes: list[str]


class ConfigBlocking(_Published):
    """Automatic blocking (docs/contracts.md): ``report``: block nothing, report each match."""

    mode: Literal["enforce", "report"] = "enforce"
    rules: list[BlockingRule] = []


# The banner's look (issue 19): colours, layout, corner radius, font and a logo. Every field has
# the default the embed shows without it, so a version published before it reads as it looked.
Colour = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$"),
                   AfterValidator(str.lower)]
ButtonStyle = Literal["primary", "secondary"]
Layout = Literal["bar", "corner", "dialog"]
LAYOUTS: dict[str, str] = {
    "corner": "Box in a corner",
    "bar": "Bar along the bottom",
    "dialog": "Centred dialog",
}


class BannerColors(_Published):
    """``#rrggbb``; a button's ``*_text`` is its label on its own background."""

    background: Colour = "#ffffff"
    text: Colour = "#1b1b1b"
    primary: Colour = "#1d3f72"
    primary_text: Colour = "#ffffff"
    secondary: Colour = "#ffffff"
    secondary_text: Colour = "#1d3f72"
    link: Colour = "#1d3f72"


class BannerButtons(_Published):
    """Which colours each first-layer button wears (same size and weight either way)."""

    accept_all: ButtonStyle = "primary"
    reject_all: ButtonStyle = "primary"
    customize: ButtonStyle = "primary"


class BannerLogo(_Published):
    """An uploaded logo, served by us at ``/v1/logos/{file}`` (the file name is its SHA-256)."""

    file: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}\.(png|jpg|webp)$")]
    width: int = Field(ge=1, le=4096)
    height: int = Field(ge=1, le=4096)


class Appearance(_Published):
    layout: Layout = "corner"
    colors: BannerColors = BannerColors()
    buttons: BannerButtons = BannerButtons()
    radius: int = Field(default=8, ge=0, le=24)  # px, the box's; buttons get three quarters
    font: Literal["system", "inherit"] = "system"  # inherit: the site's own font
    logo: BannerLogo | None = None


class PublishedConfig(_Published):
    site_key: str
    version: int
    # Both set when the version is stored; a draft has no time and no hash of its own yet.
    published_at: str | None = None
    material_hash: str = ""
    default_language: str
    languages: list[str]
    policy_url: str | None
    texts: dict[str, dict[str, str]]
    purposes: list[ConfigPurpose]
    vendors: list[ConfigVendor]
    cookies: list[ConfigCookie]
    options: ConfigOptions
    # Versions published before automatic blocking read as blocking nothing.
    blocking: ConfigBlocking = ConfigBlocking()
    # Versions published before the banner's appearance could be set read as its default.
    appearance: Appearance = Appearance()

    def json_object(self) -> dict[str, object]:
        """As served: ``published_at`` left out while there is none, and ``blocking`` when it
        blocks nothing, and ``appearance`` when it is the default (the embed reads their
        absence so; every byte of ``cmp.js`` counts)."""
        leave_out = set()
        if self.published_at is None:
            leave_out.add("published_at")
        if not self.blocking.rules and self.blocking.mode == "enforce":
            leave_out.add("blocking")
        if self.appearance == Appearance():
            leave_out.add("appearance")
        return self.model_dump(mode="json", exclude=leave_out)
