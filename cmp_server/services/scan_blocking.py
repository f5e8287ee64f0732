"""What a scan proves of automatic blocking: what waited for consent, and what did not.

A scan of a site carrying our tag reads, on every page of every pass, what the banner held
back (``ScanReport.consent_blocking``, from ``window.cmp.blocked()``). Here that becomes:

- the resources that waited: each URL held in the ``none`` or ``reject`` pass, with its
  rule, the passes it was held in and whether the ``accept`` pass released it;
- "N resources blocked until consent, M still fired before consent": N distinct resources
  held (or dropped) in ``none``/``reject``, M distinct items and tracker hosts among the
  violations;
- for each violation and possible violation, the rule that failed (a rule matched the script
  or response that set it, or the tracker request's URL, yet it fired) or that no rule exists.

Rules are those of the config version that was live when the scan finished, matched with
:func:`blocking.match` (as the embed matches them). All of it is computed when read, so
scans stored before any of it read alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from scanner import HeldResource, ReportItem, ScanReport

from ..models import ConfigVersion, Site
from ..schemas import BlockingRule, ConfigBlocking
from .blocking import match
from .publishing import parse_config
from .scan_results import item_key
from .scan_truth import Judged

__all__ = [
    "BlockingProof",
    "LiveRules",
    "RuleCheck",
    "WaitedResource",
    "blocking_proof",
    "check_rule",
    "live_rules",
]

_BEFORE = ("none", "reject")
_PASS_ORDER = {"none": 0, "accept": 1, "reject": 2}
_BLOCKED = ("held", "dropped")
Outcome = Literal["failed", "exempt", "reported", "no rule", "unknown"]


@dataclass(frozen=True, slots=True)
class LiveRules:
    """The blocking of the config version live at a scan (``version`` None: none was)."""

    version: int | None
    blocking: ConfigBlocking

    @property
    def rules(self) -> list[BlockingRule]:
        return self.blocking.rules


async def live_rules(site: Site, at: datetime) -> LiveRules:
    """The rules of the site's latest version published at or before ``at``."""
    version = (
        await ConfigVersion.filter(site=site, published_at__lte=at).order_by("-number").first()
    )
    if version is None:
        return LiveRules(None, ConfigBlocking(rules=[]))
    return LiveRules(version.number, parse_config(version).blocking)


@dataclass(frozen=True, slots=True)
class RuleCheck:
    """Which rule decided for what set a finding (``url``), or that none did."""

    url: str | None  # the script or response that set the item, or the request's URL
    rule: BlockingRule | None
    mode: str  # the live config's: enforce | report

    @property
    def outcome(self) -> Outcome:
        """``failed``: a rule should have held it back, yet it fired; ``exempt``: a rule
        without purposes lets it through; ``reported``: report-only mode blocks nothing;
        ``no rule``: map the item to a purpose or add a rule; ``unknown``: the scan did not
        see what set it, so no rule can be matched."""
        if self.url is None:
            return "unknown"
        if self.rule is None:
            return "no rule"
        if not self.rule.purposes:
            return "exempt"
        return "reported" if self.mode == "report" else "failed"

    @property
    def target(self) -> str | None:
        """The rule as staff write it: ``connect.facebook.net/en_US/``."""
        return self.rule.host + self.rule.path if self.rule is not None else None


def check_rule(
    finding: Judged, report: ScanReport, live: LiveRules,
    items: Mapping[str, ReportItem] | None = None,
) -> RuleCheck:
    """Match the URL behind a finding against the live rules (``items``: the report's items
    by ``item_key``, for many findings of one report)."""
    if finding.kind == "request":
        url = finding.url
    else:
        key = item_key(finding.kind, finding.name, finding.domain)
        item = items.get(key) if items is not None else next(
            (i for i in report.items if item_key(i.kind, i.name, i.domain) == key), None)
        url = item.initiator if item is not None else None
    if not url or not url.startswith(("http://", "https://")):
        return RuleCheck(None, None, live.blocking.mode)
    return RuleCheck(url, match(live.rules, url), live.blocking.mode)


@dataclass(frozen=True, slots=True)
class WaitedResource:
    """A resource the banner met, over every pass and page: how it fared."""

    url: str
    type: str
    purposes: tuple[str, ...]
    rule_host: str
    rule_path: str
    held_in: tuple[str, ...]  # passes in which it waited (held, or a fetch/XHR dropped)
    reported_in: tuple[str, ...]  # passes in which report-only mode only reported it
    # in the accept pass: "released" (held, then let through on the answer), "held" (still
    # waiting after accept: its purposes were not all granted), None: not listed (consent
    # was given before the page met it, or the page did not load it)
    accept: Literal["released", "held"] | None
    pages: int  # how many pages it was met on

    @property
    def rule(self) -> str:
        return self.rule_host + self.rule_path

    @property
    def blocked_before_consent(self) -> bool:
        return any(p in _BEFORE for p in self.held_in)


@dataclass(frozen=True, slots=True)
class BlockingProof:
    carries_tag: bool  # our banner answered a pass, or listed what it blocked
    config_version: int | None  # the version whose rules the findings are matched against
    mode: str  # that version's: enforce | report
    rules: int  # how many rules it published
    resources: tuple[WaitedResource, ...]
    fired: int  # M: distinct items and tracker hosts among the violations

    @property
    def blocked(self) -> int:
        """N: distinct resources held (or dropped) in the ``none`` or ``reject`` pass."""
        return sum(1 for r in self.resources if r.blocked_before_consent)

    @property
    def reported(self) -> int:
        """Report-only mode: distinct resources it would have blocked before consent."""
        return sum(1 for r in self.resources if any(p in _BEFORE for p in r.reported_in))


def _passes(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(names), key=lambda p: _PASS_ORDER.get(p, 9)))


def _resources(entries: Sequence[HeldResource]) -> tuple[WaitedResource, ...]:
    groups: dict[tuple[str, str], list[HeldResource]] = {}
    for entry in entries:
        groups.setdefault((entry.url, entry.type), []).append(entry)
    out = []
    for (url, kind), seen in groups.items():
        accept = {e.state for e in seen if e.pass_ == "accept"}
        first = seen[0]
        out.append(WaitedResource(
            url=url, type=kind, purposes=first.purposes, rule_host=first.rule_host,
            rule_path=first.rule_path,
            held_in=_passes(e.pass_ for e in seen if e.state in _BLOCKED),
            reported_in=_passes(e.pass_ for e in seen if e.state == "reported"),
            accept="released" if "released" in accept else ("held" if accept & {*_BLOCKED}
                                                             else None),
            pages=len({e.page_url for e in seen}),
        ))
    # What waited before consent first, then by URL.
    out.sort(key=lambda r: (not r.blocked_before_consent, r.url))
    return tuple(out)


def blocking_proof(report: ScanReport, violations: Iterable[Judged],
                   live: LiveRules) -> BlockingProof:
    return BlockingProof(
        carries_tag="cmp" in report.consent.values() or bool(report.consent_blocking),
        config_version=live.version,
        mode=live.blocking.mode,
        rules=len(live.rules),
        resources=_resources(report.consent_blocking),
        fired=len({item_key(v.kind, v.name, v.domain) for v in violations}),
    )
