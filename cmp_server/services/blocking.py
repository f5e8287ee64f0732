"""Automatic blocking: which third-party resources wait for which purposes.

The rules are data in the published config (``PublishedConfig.blocking``, docs/contracts.md);
the embed only enforces them. They are derived at publish time from three facts, in this order
of trust:

1. staff's own rules (``BlockingRule`` rows): a rule added by hand, or a derived rule staff
   changed or turned off; they win over everything derived for the same host and path;
2. what the site's latest scan saw: the script or response that set each inventory item (its
   initiator), as a rule for that URL's host and path, for the purpose the item has (staff's
   mapping, else the knowledge base's suggestion, which an unreviewed item carries until
   staff decide), and each tracker request's host;
3. the knowledge base's hosts of every vendor the inventory names, for the purposes of that
   vendor's items.

Never blocked: necessary (required) purposes, the site's own hosts (first party) and this
server's, unless staff add a rule. A necessary vendor's host under a blocked one (reCAPTCHA
under google.com) gets an exemption (a rule without purposes): the most specific rule decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tortoise.transactions import in_transaction

from scanner.kb import KnowledgeBase

from ..errors import InvalidRequest, NotFound
from ..models import BlockingRule as RuleRow
from ..models import InventoryItem, Purpose, Scan, Site
from ..schemas import BlockingRule, ConfigBlocking
from . import audit, revisions
from .scan_inventory import present_items
from .scan_results import InventoryIndex, load_report

if TYPE_CHECKING:
    from .staff import Actor

__all__ = [
    "Rule",
    "derive_rules",
    "first_party",
    "match",
    "normalise_rule_target",
    "published_blocking",
    "sample_tags",
    "remove_rule",
    "set_rule",
]

MAX_RULES = 500  # what one site publishes at most; staff see the rest as not published


@dataclass(frozen=True)
class Rule:
    """A rule as staff see it: what it holds back and why."""

    host: str
    path: str
    purposes: tuple[str, ...]
    vendors: tuple[str, ...] = ()  # vendor names
    items: tuple[str, ...] = ()  # inventory items it is derived from
    reasons: tuple[str, ...] = ()  # "scan 12 saw https://… set _fbp", "knowledge base: Meta"
    staff: bool = False  # staff added or changed it
    enabled: bool = True  # staff turned a derived rule off: not published

    @property
    def key(self) -> str:
        return self.host + self.path

    @property
    def exemption(self) -> bool:
        return not self.purposes


def match(rules: Iterable[BlockingRule], url: str) -> BlockingRule | None:
    """The rule that decides for ``url``, as the embed decides: the host equal to or under
    the rule's, the path starting with the rule's; of several, the longest host, then the
    longest path."""
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path or "/"
    best: BlockingRule | None = None
    for rule in rules:
        if not (host == rule.host or host.endswith("." + rule.host)):
            continue
        if not path.startswith(rule.path):
            continue
        if best is None or (len(rule.host), len(rule.path)) > (len(best.host), len(best.path)):
            best = rule
    return best


def normalise_rule_target(value: str) -> tuple[str, str]:
    """``https://Connect.Facebook.net/en_US/`` or ``connect.facebook.net/en_US/`` →
    ``("connect.facebook.net", "/en_US/")``; a host alone has the path ``""``."""
    text = value.strip()
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        scheme, host, path = parts.scheme, (parts.hostname or "").rstrip("."), parts.path
    except ValueError:
        scheme, host, path = "", "", ""
    if scheme not in ("http", "https") or not host or "." not in host or (
        len(host) > 253 or not all(c.isascii() and (c.isalnum() or c in "-.") for c in host)
    ):
        raise InvalidRequest(
            f"{value!r} is not a host or URL prefix: give one like connect.facebook.net "
            "or https://www.example.com/tracker/", field="target",
        )
    path = path if path not in ("", "/") else ""
    if len(path) > 500:
        raise InvalidRequest("the path may be at most 500 characters", field="target")
    if any(ord(c) < 0x21 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF for c in path):
        raise InvalidRequest("the path must not contain spaces or control characters",
                             field="target")
    return host, path


def _split(spec: str) -> tuple[str, str]:
    """A knowledge-base host (``google.com/maps``) as host and path."""
    host, _, path = spec.partition("/")
    return host.lower(), ("/" + path) if path else ""


def _vendor_path(kb: KnowledgeBase, vendor: str | None, url: str) -> str:
    """The path prefix of the knowledge-base host that named a request's vendor: a host
    serves several vendors by path (www.googletagmanager.com: /gtag/ is Google Analytics,
    the rest the tag manager), and a rule for the whole host would hold back the others."""
    facts = kb.vendor(vendor) if vendor else None
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path or "/"
    best: tuple[int, int, str] | None = None
    for spec in facts.hosts if facts else ():
        spec_host, spec_path = _split(spec)
        if _under(host, (spec_host,)) and path.startswith(spec_path):
            found = (len(spec_host), len(spec_path), spec_path)
            best = found if best is None or found > best else best
    return best[2] if best else ""


def _serving_vendor(kb: KnowledgeBase, row: InventoryItem) -> str | None:
    """The knowledge base's vendor whose hosts serve an item: the one the knowledge base
    knows the item by (``_ga`` is Google Analytics, on google-analytics.com), whatever vendor
    staff filed it under (a "Google" of theirs would otherwise block all of google.com); the
    item's own vendor where the knowledge base does not know the item."""
    found = (kb.match_cookie(row.name, row.domain) if row.kind == "cookie"
             else kb.match_storage(row.kind, row.name))
    if found is not None and found.vendor is not None:
        return found.vendor.key
    return row.vendor.key if row.vendor else None


def _under(host: str, domains: Iterable[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def first_party(site: Site, host: str) -> bool:
    """The site's own host (one of its domains or under one): never blocked unless staff
    add a rule."""
    return _under(host.lower(), (d.lower().lstrip(".") for d in site.domains))


@dataclass
class _Draft:
    purposes: set[str] = field(default_factory=set)
    vendors: set[str] = field(default_factory=set)
    items: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)


async def derive_rules(site: Site, *, kb: KnowledgeBase | None = None,
                       own_hosts: Sequence[str] = ()) -> list[Rule]:
    """Every rule for the site, derived and staff's, disabled ones included (sorted by host
    and path). ``own_hosts``: this server's host names (never blocked)."""
    kb = kb or KnowledgeBase.builtin()
    required = {p.key for p in await Purpose.filter(site=site) if p.required}
    items = await present_items(site, "purpose", "vendor")
    first_party = [d.lower().lstrip(".") for d in site.domains] + [h.lower() for h in own_hosts]
    drafts: dict[tuple[str, str], _Draft] = {}

    def add(host: str, path: str, purposes: Iterable[str], *, vendor: str | None = None,
            item: str | None = None, reason: str) -> None:
        wanted = {p for p in purposes if p not in required}
        if not host or _under(host, first_party) or not wanted:
            return
        draft = drafts.setdefault((host, path), _Draft())
        draft.purposes |= wanted
        if vendor:
            draft.vendors.add(vendor)
        if item:
            draft.items.add(item)
        if reason not in draft.reasons:
            draft.reasons.append(reason)

    # 3. The knowledge base's hosts of the vendor behind each item, for its items' purposes.
    by_vendor: dict[str, tuple[str, set[str], set[str]]] = {}
    for row in items:
        if row.purpose is None:  # unmapped (a scan adds them by the thousand): no rule
            continue
        key = _serving_vendor(kb, row)
        if key is None:
            continue
        facts = kb.vendor(key)
        shown = row.vendor.name if row.vendor else (facts.name if facts else key)
        name, purposes, names = by_vendor.setdefault(key, (shown, set(), set()))
        purposes.add(row.purpose.key)
        names.add(row.name)
    for key, (name, purposes, names) in sorted(by_vendor.items()):
        facts = kb.vendor(key)
        for spec in facts.hosts if facts else ():
            host, path = _split(spec)
            for item in sorted(names):
                add(host, path, purposes, vendor=name, item=item,
                    reason=f"knowledge base: {facts.name if facts else name}'s host")

    # 2. What the latest scan saw set each item, and its tracker requests.
    scan = await Scan.filter(site=site).order_by("-finished_at", "-id").only("id").first()
    if scan is not None:
        report = await load_report(scan)  # kept between requests: a report never changes
        index = InventoryIndex(items)
        for found in report.items:
            if not found.initiator:
                continue
            matched = index.match(found.kind, found.name)
            if matched is None or matched.purpose is None:
                continue
            parts = urlsplit(found.initiator)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                continue
            how = "set" if found.set_by == "http" else "wrote"
            add(parts.hostname.lower(), parts.path or "/", [matched.purpose.key],
                vendor=matched.vendor.name if matched.vendor else found.vendor_name,
                item=matched.name,
                reason=f"scan {scan.id}: {found.initiator[:200]} {how} {found.name}")
        for request in report.requests:
            vendor_purposes = by_vendor.get(request.vendor or "", (None, set(), set()))[1]
            purposes = vendor_purposes or (
                {request.category} if request.category != "unclassified" else set()
            )
            add(request.host.lower(), _vendor_path(kb, request.vendor, request.example_url),
                purposes, vendor=request.vendor_name or request.vendor,
                reason=f"scan {scan.id}: tracker requests to {request.host}")

    rules = {
        key: Rule(key[0], key[1], tuple(sorted(d.purposes)), tuple(sorted(d.vendors)),
                  tuple(sorted(d.items)), tuple(d.reasons))
        for key, d in drafts.items()
    }
    # A necessary vendor's host under a blocked host keeps working: an exemption.
    for facts in kb.vendors.values():
        if facts.category != "necessary":
            continue
        for spec in facts.hosts:
            host, path = _split(spec)
            if (host, path) in rules or _under(host, first_party):
                continue
            decided = match([BlockingRule(host=r.host, path=r.path, purposes=list(r.purposes))
                             for r in rules.values()], f"https://{host}{path or '/'}")
            if decided is not None and decided.purposes:
                rules[(host, path)] = Rule(host, path, (), (facts.name,), (),
                                           (f"knowledge base: {facts.name} is necessary",))
    # 1. Staff's own rules win.
    for own in await RuleRow.filter(site=site):
        derived = rules.get((own.host, own.path))
        rules[(own.host, own.path)] = Rule(
            own.host, own.path,
            tuple(sorted(own.purposes)) if own.purposes is not None else (
                derived.purposes if derived else ()),
            derived.vendors if derived else (), derived.items if derived else (),
            (*(derived.reasons if derived else ()), "staff"), staff=True, enabled=own.enabled,
        )
    return [rules[k] for k in sorted(rules)]


@dataclass(frozen=True)
class SampleTag:
    type: str  # script | img
    url: str


def sample_tags(rules: Sequence[BlockingRule], limit: int = 12) -> list[SampleTag]:
    """Tags for the admin's preview: a script under each rule that blocks something (as a
    vendor's loader inserts one) and a pixel under the first, so the rules meet them there."""
    tags: list[SampleTag] = []
    for rule in [r for r in rules if r.purposes][:limit]:
        base = f"https://{rule.host}{rule.path or '/'}"
        name = "cmp-preview-sample.js" if base.endswith("/") else ""
        tags.append(SampleTag("script", f"{base}{name}?cmp-preview=1"))
        if len(tags) == 1:
            pixel = "cmp-preview-pixel.gif" if base.endswith("/") else ""
            tags.append(SampleTag("img", f"{base}{pixel}?cmp-preview=pixel"))
    return tags


def published_blocking(rules: Sequence[Rule], mode: str) -> ConfigBlocking:
    """What the config carries: the enabled rules (``mode`` "off": none)."""
    if mode == "off":
        return ConfigBlocking(mode="enforce", rules=[])
    return ConfigBlocking(
        mode="report" if mode == "report" else "enforce",
        rules=[BlockingRule(host=r.host, path=r.path, purposes=list(r.purposes))
               for r in rules if r.enabled][:MAX_RULES],
    )


async def set_rule(site: Site, target: str, purposes: Sequence[str] | None, *,
                   enabled: bool = True, by: Actor | None = None,
                   version: int | None = None) -> Rule:
    """Add or change staff's rule for a host or URL prefix: ``purposes`` (None: keep what is
    derived; empty: never block it), or turn it off. Audited; refused (``StaleEdit``) when
    the site's rules changed since ``version`` (``revisions.blocking``), when given."""
    host, path = normalise_rule_target(target)
    known = {p.key for p in await Purpose.filter(site=site)}
    if purposes is not None and (unknown := sorted(set(purposes) - known)):
        raise InvalidRequest(f"the site has no purpose {unknown[0]!r}", field="purposes")
    async with in_transaction():
        row = await RuleRow.get_or_none(site=site, host=host, path=path)
        before = None if row is None else {"purposes": row.purposes, "enabled": row.enabled}
        chosen = sorted(purposes) if purposes is not None else None
        values = {"purposes": chosen, "enabled": enabled}
        if row is None:
            row = await RuleRow.create(site=site, host=host, path=path, purposes=chosen,
                                       enabled=enabled)
        elif before != values:
            await RuleRow.filter(id=row.id).update(purposes=chosen, enabled=enabled)
        if before != values:
            entry = await audit.record(by, "blocking.rule", "blocking_rule", host + path,
                                       site=site, before=before, after=values)
            await revisions.advance(revisions.blocking(site), entry, version)
    return next(r for r in await derive_rules(site) if (r.host, r.path) == (host, path))


async def remove_rule(site: Site, target: str, *, by: Actor | None = None,
                      version: int | None = None) -> None:
    """Drop staff's rule: what is derived for that host and path applies again. Refused
    (``StaleEdit``) when the site's rules changed since ``version``, when given."""
    host, path = normalise_rule_target(target)
    async with in_transaction():
        row = await RuleRow.get_or_none(site=site, host=host, path=path)
        if row is None:
            raise NotFound(f"no rule of staff's for {host}{path}", field="target")
        entry = await audit.record(
            by, "blocking.rule.remove", "blocking_rule", host + path, site=site,
            before={"purposes": row.purposes, "enabled": row.enabled})
        await row.delete()
        await revisions.advance(revisions.blocking(site), entry, version)
