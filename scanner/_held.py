"""What our own banner held back until consent: ``window.cmp.blocked()`` (docs/contracts.md).

Read in the top frame of each page once it has settled (in the ``accept`` pass, after the
answer: what was held is ``released`` by then). The page wrote the list, so the page may
have written anything: it is read with a time limit, cut to ``MAX_PER_PAGE`` entries and
``MAX_URL`` characters in the page and again here, and an entry that is not the contract's
shape (an unknown type or state, a URL that is not http(s)) is left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from itertools import islice
from typing import Any, get_args

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from ._models import HeldResource, HeldState, HeldType
from ._records import HeldRecord, PassCapture

__all__ = ["MAX_PER_PAGE", "MAX_TOTAL", "MAX_URL", "consent_blocking", "parse_entries", "read_held"]

MAX_PER_PAGE = 100
MAX_TOTAL = 3000  # per report: every pass and page together
MAX_URL = 1000
_MAX_PURPOSES = 20
_MAX_PURPOSE = 64
_MAX_HOST = 253
_MAX_PATH = 500
_TYPES: frozenset[str] = frozenset(get_args(HeldType))
_STATES: frozenset[str] = frozenset(get_args(HeldState))

# Plain data out, each field cut to size in the page: a list of a million entries, or URLs
# of a megabyte each, never cross to us.
_READ = """(limits) => {
  let list;
  try {
    const cmp = window.cmp;
    if (!cmp || typeof cmp.blocked !== 'function') return [];
    list = cmp.blocked();
  } catch (e) { return []; }
  if (!Array.isArray(list)) return [];
  const text = (v, max) => (typeof v === 'string' ? v.slice(0, max) : '');
  const out = [];
  const n = Math.min(list.length, limits.entries);
  for (let i = 0; i < n; i++) {
    try {
      const e = list[i];
      if (!e || typeof e !== 'object') continue;
      const rule = e.rule && typeof e.rule === 'object' ? e.rule : {};
      const purposes = Array.isArray(e.purposes)
        ? e.purposes.slice(0, limits.purposes).map((p) => text(p, limits.purpose)) : [];
      out.push({ url: text(e.url, limits.url), type: text(e.type, 16),
                 state: text(e.state, 16), purposes: purposes,
                 host: text(rule.host, limits.host), path: text(rule.path, limits.path) });
    } catch (err) { /* an entry whose getters throw: left out */ }
  }
  return out;
}"""
_LIMITS = {"entries": MAX_PER_PAGE, "url": MAX_URL, "purposes": _MAX_PURPOSES,
           "purpose": _MAX_PURPOSE, "host": _MAX_HOST, "path": _MAX_PATH}


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def parse_entries(raw: Any, page_url: str) -> list[HeldRecord]:
    """The entries of the contract's shape, at most ``MAX_PER_PAGE``, each cut to size."""
    if not isinstance(raw, list):
        return []
    found: list[HeldRecord] = []
    for entry in raw[:MAX_PER_PAGE]:
        if not isinstance(entry, dict):
            continue
        url, kind, state = (_text(entry.get(k), n) for k, n in
                            (("url", MAX_URL), ("type", 16), ("state", 16)))
        host = _text(entry.get("host"), _MAX_HOST).lower()
        if not url.startswith(("http://", "https://")) or kind not in _TYPES:
            continue
        if state not in _STATES or not host:
            continue
        purposes = entry.get("purposes")
        found.append(HeldRecord(
            page_url=page_url, url=url, type=kind,
            purposes=tuple(dict.fromkeys(
                p for p in (_text(x, _MAX_PURPOSE) for x in (
                    purposes[:_MAX_PURPOSES] if isinstance(purposes, list) else ())) if p)),
            rule_host=host, rule_path=_text(entry.get("path"), _MAX_PATH), state=state,
        ))
    return found


async def read_held(page: Page, page_url: str) -> list[HeldRecord]:
    """``window.cmp.blocked()`` of the page's top frame (``[]``: none, or not our banner)."""
    try:
        raw = await asyncio.wait_for(page.evaluate(_READ, _LIMITS), timeout=5)
    except (PlaywrightError, TimeoutError):
        return []
    return parse_entries(raw, page_url)


def consent_blocking(captures: Iterable[PassCapture]) -> tuple[HeldResource, ...]:
    """Every pass's entries for the report, the same entry on the same page once, at most
    ``MAX_TOTAL``."""
    entries = dict.fromkeys((c.name, r) for c in captures for r in c.held)
    return tuple(
        HeldResource.model_validate({
            "pass": name, "page_url": r.page_url, "url": r.url, "type": r.type,
            "purposes": r.purposes, "rule_host": r.rule_host, "rule_path": r.rule_path,
            "state": r.state,
        })
        for name, r in islice(entries, MAX_TOTAL)
    )
