"""The texts a receipt's hash vouches for are exactly the texts the banner renders.

The server resolves every text for every language at publish time (``publishing.resolve_texts``)
and the embed has no texts of its own. Read back from the DOM in Chromium, every string the
banner puts on screen (both layers, the inventory expanded) is made of the strings the hash
covers, in every language, also for a site created before a text key existed.
"""

from __future__ import annotations

import re

import pytest

from cmp_server._utils import canonical_json, sha256_hex
from cmp_server.defaults import DEFAULT_TEXTS
from cmp_server.models import ConfigVersion, Site
from cmp_server.schemas import PublishedConfig
from cmp_server.services import publishing

from .banner import settled
from .conftest import Visit
from .factories import Tag, page, published_site
from .servers import CmpServer, HostServer

SCREEN_TEXT = """() => {
    const root = document.querySelector('cmp-banner').shadowRoot;
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const out = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement;
        if (el && el.closest('style')) continue;
        if (n.textContent.trim()) out.push(n.textContent.trim());
    }
    for (const el of root.querySelectorAll('[aria-label]')) out.push(el.getAttribute('aria-label'));
    return out;
}"""


async def site_from_before_a_text_key() -> tuple[Site, dict[str, object]]:
    """A site whose stored texts lack keys added later (as if created by an older version):
    ``description`` in every language, ``title`` in Swedish only. Then published."""
    site = await published_site()
    texts = {lang: dict(entries) for lang, entries in site.texts.items()}
    for lang in texts:
        del texts[lang]["description"]
    del texts["sv"]["title"]
    await Site.filter(id=site.id).update(texts=texts)
    site = await Site.get(id=site.id)
    await publishing.publish(site)
    version = await ConfigVersion.filter(site=site).order_by("-number").first()
    assert version is not None
    return site, {"config": publishing.parse_config(version), "hashes": version.text_hashes}


def hashed_strings(payload: dict[str, object]) -> list[str]:
    """Every string in the hashed payload, templates split at their placeholder."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.extend(part.strip() for part in value.split("{purpose}") if part.strip())
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(payload)
    return sorted(set(found), key=len, reverse=True)


def unexplained(text: str, strings: list[str]) -> str:
    """What is left of a screen text once every hashed string (longest first) is taken out,
    with the glue the banner adds (numbers, punctuation, the prefix-match star)."""
    for s in strings:
        text = text.replace(s, " ")
    return re.sub(r"[\s\d()·,.:*×—-]+", "", text)


@pytest.mark.parametrize("lang", ["en", "sv", "da"])
async def test_every_string_on_screen_is_covered_by_the_receipts_hash(
    visit: Visit, host: HostServer, cmp: CmpServer, path: str, lang: str
) -> None:
    site, published = await cmp.call(site_from_before_a_text_key())
    config, hashes = published["config"], published["hashes"]
    assert isinstance(config, PublishedConfig) and isinstance(hashes, dict)
    payload = publishing.texts_for_language(config, lang)
    assert sha256_hex(canonical_json(payload)) == hashes[lang]
    # The keys the site lacked come from our built-in texts of that language.
    assert payload["texts"]["description"] == DEFAULT_TEXTS[lang]["description"]
    assert payload["texts"]["title"] == DEFAULT_TEXTS[lang]["title"]

    await visit.page.goto(host.add(path, page(Tag(cmp.origin, site.key), lang=lang)))
    await settled(visit.page)
    first = await visit.page.evaluate(SCREEN_TEXT)
    assert payload["texts"]["description"] in first
    assert payload["texts"]["title"] in first
    await visit.page.get_by_role("button", name=payload["texts"]["customize"]).click()
    await visit.page.get_by_role("dialog").locator("summary").first.wait_for()
    for summary in await visit.page.get_by_role("dialog").locator("summary").all():
        await summary.click()
    second = await visit.page.evaluate(SCREEN_TEXT)
    assert payload["texts"]["preferences_title"] in second

    strings = hashed_strings(payload)
    left = {t: unexplained(t, strings) for t in first + second}
    assert {t: rest for t, rest in left.items() if rest} == {}
