"""The banner's look in the draft: colours, layout, corner radius, font and a logo.

Like the texts, the appearance is part of the draft (``Site.appearance``, a
``schemas.Appearance`` as JSON) and reaches visitors when it is published: it is a typed part
of the published config, so it is versioned, compared in the publish summary and the version
diff, and every edit is audited with what it was before and after, in one transaction.

A logo is uploaded by staff, never fetched from the site's URL: its bytes are checked here
(a PNG, JPEG or WebP of at most ``MAX_LOGO_BYTES`` and ``MAX_LOGO_SIDE`` pixels a side, read
from the file's own header, whatever name or type the upload claims), kept in the database by
their SHA-256, and served from our own origin at ``/v1/logos/{sha256}.{ext}`` (the API answers
it with a year's caching: the name changes when the bytes do). SVG is refused: it is a document
that can carry scripts and external loads, and a bitmap logo is all a banner needs.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from tortoise.transactions import in_transaction

from ..errors import InvalidRequest, NotFound
from ..models import AuditEntry, ConfigVersion, Logo, Site
from ..schemas import Appearance, BannerLogo
from . import audit, revisions

if TYPE_CHECKING:
    from .staff import Actor

__all__ = [
    "MAX_LOGO_BYTES",
    "MAX_LOGO_SIDE",
    "LogoFile",
    "draft_appearance",
    "edit_appearance",
    "image_size",
    "logo_file",
    "remove_logo",
    "upload_logo",
]

MAX_LOGO_BYTES = 100 * 1024
MAX_LOGO_SIDE = 1024
# The type we found in the bytes → (file extension, media type).
_TYPES = {"png": ("png", "image/png"), "jpeg": ("jpg", "image/jpeg"),
          "webp": ("webp", "image/webp")}
_FILE = re.compile(r"([0-9a-f]{64})\.(png|jpg|webp)")
# JPEG's start-of-frame markers (the ones holding the image's size).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def draft_appearance(site: Site) -> Appearance:
    """The draft's look; the default look when none was set (or what is stored is not one)."""
    try:
        return Appearance.model_validate(site.appearance or {})
    except ValidationError:
        return Appearance()


def _checked(values: dict[str, Any]) -> Appearance:
    try:
        return Appearance.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(f"{where}: {first['msg']}", field=f"appearance.{where}") from None


async def _locked(site: Site) -> Site:
    fresh = await Site.select_for_update().filter(id=site.id).first()
    if fresh is None:
        raise NotFound(f"no site with key {site.key!r}")
    return fresh


async def _save(
    site: Site, fresh: Site, new: Appearance, action: str, by: Actor | None
) -> AuditEntry | None:
    """Store ``new`` as the draft's look (``fresh``: the site row locked by the caller's
    transaction) and audit the leaves that changed; the entry, None when nothing did."""
    old = draft_appearance(fresh)
    entry = None
    if new != old:
        before, after = _flat(old.model_dump(mode="json")), _flat(new.model_dump(mode="json"))
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        fresh.appearance = new.model_dump(mode="json")
        await fresh.save(update_fields=["appearance", "updated_at"])
        entry = await audit.record(
            by, action, "site", site.key, site=fresh,
            before={k: before.get(k) for k in changed}, after={k: after.get(k) for k in changed},
        )
    site.appearance = fresh.appearance
    return entry


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


async def edit_appearance(
    site: Site, values: dict[str, Any], *, by: Actor | None = None, version: int | None = None
) -> Appearance:
    """Set the draft's look from ``values`` (``schemas.Appearance``'s fields; the logo is kept:
    it changes only by ``upload_logo`` and ``remove_logo``). Refused (``InvalidRequest``,
    ``field="appearance.<path>"``) when a value is not one, and (``StaleEdit``) over a look
    changed since ``version`` (``revisions.appearance``) when given."""
    values = {k: v for k, v in values.items() if k != "logo"}
    async with in_transaction():
        fresh = await _locked(site)
        logo = draft_appearance(fresh).logo
        new = _checked({**values, "logo": logo.model_dump() if logo else None})
        entry = await _save(site, fresh, new, "banner.appearance", by)
        await revisions.advance(revisions.appearance(site), entry, version)
        return new


def image_size(data: bytes) -> tuple[str, int, int]:
    """``(kind, width, height)`` read from the image's own header: ``png``, ``jpeg`` or
    ``webp``. Anything else (SVG above all) is refused with a reason staff can act on."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data[:3] == b"\xff\xd8\xff":
        return ("jpeg", *_jpeg_size(data))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ("webp", *_webp_size(data))
    head = data[:1024].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml", b"<!doctype svg")) or b"<svg" in head:
        raise InvalidRequest(
            "SVG logos are not taken: an SVG file can carry scripts and load other files. "
            "Export the logo as PNG or WebP.", field="logo")
    raise InvalidRequest("the logo must be a PNG, JPEG or WebP image", field="logo")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xDA)):  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return width, height
        at += 2 + length
    raise InvalidRequest("the JPEG logo is damaged: no image size found", field="logo")


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise InvalidRequest("the WebP logo is damaged: no image size found", field="logo")


async def upload_logo(site: Site, data: bytes, *, by: Actor | None = None) -> BannerLogo:
    """Check and keep an uploaded logo and make it the draft's. Logos of this site that
    neither the draft nor any published version names any more are deleted."""
    if not data:
        raise InvalidRequest("choose a logo file to upload", field="logo")
    if len(data) > MAX_LOGO_BYTES:
        raise InvalidRequest(
            f"the logo may be at most {MAX_LOGO_BYTES // 1024} KB (it has "
            f"{(len(data) + 1023) // 1024} KB)", field="logo")
    kind, width, height = image_size(data)
    if not (0 < width <= MAX_LOGO_SIDE and 0 < height <= MAX_LOGO_SIDE):
        raise InvalidRequest(
            f"the logo may be at most {MAX_LOGO_SIDE}×{MAX_LOGO_SIDE} pixels (it has "
            f"{width}×{height})", field="logo")
    ext, media_type = _TYPES[kind]
    digest = hashlib.sha256(data).hexdigest()
    logo = BannerLogo(file=f"{digest}.{ext}", width=width, height=height)
    async with in_transaction():
        fresh = await _locked(site)
        if not await Logo.exists(site=fresh, sha256=digest):
            await Logo.create(site=fresh, sha256=digest, media_type=media_type, width=width,
                              height=height, data=data)
        new = draft_appearance(fresh).model_copy(update={"logo": logo})
        await _save(site, fresh, new, "banner.logo", by)
        await _forget_unused(fresh, keep=digest)
    return logo


async def remove_logo(site: Site, *, by: Actor | None = None) -> None:
    """The draft shows no logo (published versions keep theirs)."""
    async with in_transaction():
        fresh = await _locked(site)
        await _save(site, fresh, draft_appearance(fresh).model_copy(update={"logo": None}),
                    "banner.logo", by)
        await _forget_unused(fresh, keep=None)


async def _forget_unused(site: Site, keep: str | None) -> None:
    for logo in await Logo.filter(site=site).only("id", "sha256"):
        if logo.sha256 == keep:
            continue
        if await ConfigVersion.exists(site=site, canonical_json__contains=logo.sha256):
            continue
        await Logo.filter(id=logo.id).delete()


@dataclass(frozen=True)
class LogoFile:
    media_type: str
    data: bytes
    etag: str


async def logo_file(name: str) -> LogoFile:
    """A kept logo by its file name (``{sha256}.{ext}``), for ``GET /v1/logos/{name}``."""
    m = _FILE.fullmatch(name)
    logo = await Logo.filter(sha256=m[1]).first() if m else None
    if m is None or logo is None or _TYPES[_kind(logo.media_type)][0] != m[2]:
        raise NotFound("no such logo")
    return LogoFile(logo.media_type, bytes(logo.data), f'"{logo.sha256}"')


def _kind(media_type: str) -> str:
    return next(k for k, (_, t) in _TYPES.items() if t == media_type)
