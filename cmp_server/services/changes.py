"""What publishing would change, and what changed between two published versions.

Two configs are compared as visitors would meet them: texts per language, purposes, vendors,
cookies and the other settings, each added, removed or changed field by field, and whether the
material hash moved (visitors are then asked to choose again). The same comparison serves the
summary before publishing (the latest version against the draft) and the version history (any
two versions), which also gets a line diff of the two configs (``difflib``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import orjson
from pydantic import BaseModel

from ..errors import Conflict, InvalidRequest, VersionNotFound
from ..models import ConfigVersion, Site
from ..schemas import BlockingRule, ConfigCookie, ConfigPurpose, ConfigVendor, PublishedConfig
from . import publishing
from .drafts import draft_config
from .lint import Finding, lint

if TYPE_CHECKING:
    from .staff import Actor

__all__ = [
    "Change",
    "Changes",
    "DiffLine",
    "FieldChange",
    "Summary",
    "TextChange",
    "VersionDiff",
    "VersionInfo",
    "compare",
    "config_lines",
    "diff_lines",
    "list_versions",
    "publish_draft",
    "publish_summary",
    "version_config",
    "version_diff",
]

NONE = "—"


@dataclass(frozen=True)
class TextChange:
    language: str
    key: str
    before: str | None  # None: not there
    after: str | None


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str
    after: str


@dataclass(frozen=True)
class Change:
    """A purpose, vendor, cookie or setting that was added, removed or changed."""

    kind: Literal["added", "removed", "changed"]
    key: str
    label: str
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True)
class Changes:
    texts: tuple[TextChange, ...]
    purposes: tuple[Change, ...]
    vendors: tuple[Change, ...]
    cookies: tuple[Change, ...]
    settings: tuple[Change, ...]
    rules: tuple[Change, ...]  # automatic blocking's rules, by host and path
    material: bool  # the material hash differs: visitors are asked to choose again
    unchanged: bool  # the two say the same

    @property
    def count(self) -> int:
        return sum(map(len, (self.texts, self.purposes, self.vendors, self.cookies,
                             self.settings, self.rules)))


def _show(value: Any) -> str:
    if value is None or value == "" or value == []:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return str(value)


def _flat(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"name": {"sv": "x"}}`` → ``{"name.sv": "x"}``: nested settings compared per leaf."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _fields(old: BaseModel, new: BaseModel, **extra: tuple[Any, Any]) -> tuple[FieldChange, ...]:
    a = _flat({**old.model_dump(mode="json"), **{k: v[0] for k, v in extra.items()}})
    b = _flat({**new.model_dump(mode="json"), **{k: v[1] for k, v in extra.items()}})
    return tuple(
        FieldChange(name, _show(a.get(name)), _show(b.get(name)))
        for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)
    )


_R = TypeVar("_R", ConfigPurpose, ConfigVendor, ConfigCookie, BlockingRule)


def _records(
    old: Sequence[_R], new: Sequence[_R], key: Callable[[_R], str], label: Callable[[_R], str],
    *, positions: bool = False,
) -> tuple[Change, ...]:
    """Each record added, removed or changed field by field; ``positions``: the place in
    the list is part of a record (the purposes' order is what visitors see)."""
    before = {key(r): (i + 1, r) for i, r in enumerate(old)}
    after = {key(r): (i + 1, r) for i, r in enumerate(new)}
    out: list[Change] = []
    for k, (at, record) in after.items():
        if k not in before:
            out.append(Change("added", k, label(record)))
            continue
        was, previous = before[k]
        extra = {"position": (was, at)} if positions else {}
        if fields := _fields(previous, record, **extra):
            out.append(Change("changed", k, label(record), fields))
    out.extend(Change("removed", k, label(r)) for k, (_, r) in before.items() if k not in after)
    return tuple(out)


def _cookie_key(c: ConfigCookie) -> str:
    return f"{c.kind}:{c.name}@{c.domain or ''}"


def _cookie_label(c: ConfigCookie) -> str:
    name = c.name + ("*" if c.match == "prefix" else "")
    kind = "" if c.kind == "cookie" else f" ({c.kind})"
    return name + kind + (f" on {c.domain}" if c.domain else "")


def _settings(config: PublishedConfig) -> dict[str, Any]:
    skip = {"texts", "purposes", "vendors", "cookies", "site_key", "blocking"}
    shown = {k: v for k, v in publishing.comparable(config).items() if k not in skip}
    return _flat(shown)


def compare(old: PublishedConfig | None, new: PublishedConfig) -> Changes:
    """``old`` None: nothing published yet, everything is new."""
    old_texts = old.texts if old else {}
    texts = []
    for lang in sorted(set(old_texts) | set(new.texts)):
        a, b = old_texts.get(lang, {}), new.texts.get(lang, {})
        for key in [*b, *(k for k in a if k not in b)]:
            if a.get(key) != b.get(key):
                texts.append(TextChange(lang, key, a.get(key), b.get(key)))
    a_settings, b_settings = (_settings(old) if old else {}), _settings(new)
    settings = tuple(
        Change("added" if name not in a_settings else "removed" if name not in b_settings
               else "changed", name, name,
               (FieldChange(name, _show(a_settings.get(name)), _show(b_settings.get(name))),))
        for name in sorted(set(a_settings) | set(b_settings))
        if a_settings.get(name) != b_settings.get(name)
    )
    default = new.default_language
    return Changes(
        texts=tuple(texts),
        purposes=_records(old.purposes if old else [], new.purposes, lambda p: p.key,
                          lambda p: p.name.get(default) or p.key, positions=True),
        vendors=_records(old.vendors if old else [], new.vendors, lambda v: v.key,
                         lambda v: v.name or v.key),
        cookies=_records(old.cookies if old else [], new.cookies, _cookie_key, _cookie_label),
        settings=settings,
        rules=_records(old.blocking.rules if old else [], new.blocking.rules,
                       lambda r: r.host + r.path,
                       lambda r: r.host + r.path + ("" if r.purposes else " (never blocked)")),
        material=old is None or publishing.material_hash(old) != publishing.material_hash(new),
        unchanged=old is not None
        and publishing.fingerprint(old) == publishing.fingerprint(new),
    )


@dataclass(frozen=True)
class DiffLine:
    kind: Literal["file", "hunk", "add", "del", "same"]
    text: str


def config_lines(config: PublishedConfig) -> list[str]:
    """The config as indented JSON lines, keys sorted (version and times left out)."""
    body = orjson.dumps(
        publishing.comparable(config), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    )
    return body.decode().splitlines()


def diff_lines(
    old: PublishedConfig | None, new: PublishedConfig, old_name: str, new_name: str
) -> tuple[DiffLine, ...]:
    """A unified diff of the two configs as indented JSON (version and times left out)."""
    out = []
    for line in difflib.unified_diff(
        config_lines(old) if old else [], config_lines(new), old_name, new_name, n=3, lineterm=""
    ):
        kind: Literal["file", "hunk", "add", "del", "same"]
        if line.startswith(("---", "+++")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        out.append(DiffLine(kind, line))
    return tuple(out)


@dataclass(frozen=True)
class Summary:
    """What publishing the draft now would do."""

    site_key: str
    published: int | None  # the latest version's number (None: nothing published yet)
    number: int  # the version publishing creates
    changes: Changes
    findings: tuple[Finding, ...]
    fingerprint: str  # of the draft: ``publish_draft`` refuses a draft that moved since
    lines: tuple[DiffLine, ...] = field(repr=False)

    @property
    def unchanged(self) -> bool:
        return self.changes.unchanged

    @property
    def material(self) -> bool:
        return self.changes.material

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.is_error)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.is_error)

    @property
    def can_publish(self) -> bool:
        return not self.unchanged and not self.errors


async def _latest(site: Site) -> ConfigVersion | None:
    return await ConfigVersion.filter(site=site).order_by("-number").first()


async def publish_summary(site: Site) -> Summary:
    """The draft against the latest version, and the lint findings."""
    latest = await _latest(site)
    old = publishing.parse_config(latest) if latest else None
    draft = await draft_config(site)
    return Summary(
        site_key=site.key,
        published=latest.number if latest else None,
        number=draft.version,
        changes=compare(old, draft),
        findings=tuple(await lint(site)),
        fingerprint=publishing.fingerprint(draft),
        lines=diff_lines(
            old, draft, f"version {latest.number}" if latest else "nothing published", "draft"
        ),
    )


async def publish_draft(
    site: Site, *, by: Actor | None = None, expected: str | None = None
) -> ConfigVersion:
    """Publish after the checks: refused (``InvalidRequest``) while the lint finds errors,
    (``Conflict``) when the draft is the published version or has changed since the summary
    with fingerprint ``expected`` was shown."""
    summary = await publish_summary(site)
    if summary.unchanged:
        raise Conflict("nothing to publish: the draft is the published version")
    if summary.errors:
        reasons = "; ".join(f.message for f in summary.errors)
        raise InvalidRequest(f"fix these before publishing: {reasons}")
    if expected is not None and expected != summary.fingerprint:
        raise Conflict("the draft changed since its summary was shown: look at the summary again")
    return await publishing.publish(site, by=by, expected=summary.fingerprint)


@dataclass(frozen=True)
class VersionInfo:
    number: int
    published_at: datetime
    published_by: str | None
    material: bool  # visitors were asked again (its material hash differs from the previous)
    content_hash: str


async def list_versions(site: Site) -> list[VersionInfo]:
    """Newest first."""
    rows = await ConfigVersion.filter(site=site).order_by("number").values(
        "number", "published_at", "published_by", "material_hash", "content_hash"
    )
    out, previous = [], None
    for row in rows:
        out.append(VersionInfo(
            number=row["number"], published_at=row["published_at"],
            published_by=row["published_by"],
            material=previous is None or previous != row["material_hash"],
            content_hash=row["content_hash"],
        ))
        previous = row["material_hash"]
    return out[::-1]


async def _version(site: Site, number: int) -> ConfigVersion:
    version = await ConfigVersion.get_or_none(site=site, number=number) if (
        0 < number < 2**31) else None
    if version is None:
        raise VersionNotFound(f"site {site.key!r} has no version {number}")
    return version


async def version_config(site: Site, number: int) -> PublishedConfig:
    return publishing.parse_config(await _version(site, number))


@dataclass(frozen=True)
class VersionDiff:
    old: int
    new: int
    changes: Changes
    lines: tuple[DiffLine, ...]


async def version_diff(site: Site, old: int, new: int) -> VersionDiff:
    a, b = await version_config(site, old), await version_config(site, new)
    return VersionDiff(old, new, compare(a, b), diff_lines(a, b, f"version {old}",
                                                          f"version {new}"))
