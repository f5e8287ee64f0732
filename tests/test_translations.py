"""What staff still have to translate (``services/translations.py``), the lint's warnings that
name each gap, and the rule that a declaration row is in the visitor's language only."""

from __future__ import annotations

from starlette.applications import Starlette

from cmp_server.defaults import DEFAULT_TEXTS
from cmp_server.models import Site
from cmp_server.services import declaration, drafts, inventory, lint, publishing, sites
from cmp_server.services.translations import (
    TEXT_KEYS,
    completed,
    completeness,
    kb_match,
    untranslated_texts,
)
from scanner.kb import KnowledgeBase

KB = KnowledgeBase.builtin()
GA_EN = "Random client ID written by the Analytics script on the site's own domain, used to " \
    "recognise the same browser on later visits."


async def _site() -> Site:
    """A Swedish course provider in Swedish, Danish and English, with three cookies: one the
    scanner described from the knowledge base (English stored, as scans before the
    translations did), one staff described in Swedish only, one without a description."""
    site = await sites.create_site("Kursgården", ["kursgarden.se"], languages=("sv", "da", "en"),
                                   default_language="sv", force=True)
    await inventory.add_vendor(site, key="google-analytics", name="Google Analytics",
                               country="US", transfers_outside_eea=True)
    await inventory.add_item(site, name="_ga", purpose="statistics", vendor="google-analytics",
                             duration_days=730, description={"en": GA_EN}, source="scan")
    await inventory.add_item(site, name="kurs_filter", purpose="preferences",
                             description={"sv": "Kommer ihåg vilka kurser du filtrerade på."})
    await inventory.add_item(site, name="ab_test", purpose="statistics")
    await inventory.add_item(site, name="old_thing", purpose="statistics", review_status="gone")
    await inventory.add_item(site, name="unmapped", description={"en": "No purpose yet."})
    return site


def test_the_knowledge_base_completes_only_its_own_words() -> None:
    found = kb_match(KB, "cookie", "_ga")
    assert found is not None
    full = completed({"en": GA_EN}, found)
    assert set(full) >= {"en", "sv", "da"} and full["da"].startswith("Tilfældigt klient-ID")
    # Staff's own words stay theirs: the knowledge base's Danish would say something else.
    assert completed({"en": "Our own words."}, found) == {"en": "Our own words."}
    assert completed({"en": GA_EN, "sv": "Egen text."}, found) == {"en": GA_EN,
                                                                   "sv": "Egen text."}
    # Nothing described: nothing added (the gap is counted, not filled by a guess).
    assert completed({}, found) == {}
    # A prefix row is looked up as a name under it.
    prefix = kb_match(KB, "cookie", "_ga_", "prefix")
    assert prefix is not None and prefix.rule == "_ga_"
    assert kb_match(KB, "indexedDB", "no-such-db") is None


async def test_completeness_per_language(app: Starlette) -> None:
    site = await _site()
    status = {s.language: s for s in await completeness(site)}
    assert list(status) == ["sv", "da", "en"]
    # The declaration lists three items (not the gone one, not the unmapped one).
    assert {s.cookies_total for s in status.values()} == {3}
    assert status["sv"].cookies_missing == (("ab_test", "cookie"),)
    assert status["da"].cookies_missing == (("ab_test", "cookie"), ("kurs_filter", "cookie"))
    assert status["en"].cookies_missing == (("ab_test", "cookie"), ("kurs_filter", "cookie"))
    assert all(s.texts_missing == () and s.purposes == () for s in status.values())
    assert status["da"].summary() == (
        f"Danish: {len(TEXT_KEYS)} of {len(TEXT_KEYS)} texts, "
        "2 cookies without a Danish description")

    # A title of the site's own in Swedish: Danish and English visitors get ours instead.
    await drafts.edit_texts(site, "sv", {"title": "Kakor hos Kursgården"})
    # Typed as our built-in text: not a text of its own.
    await drafts.edit_texts(site, "sv", {"save": DEFAULT_TEXTS["sv"]["save"]})
    await drafts.edit_purpose(site, "statistics", name={"da": "Statistik"},
                              description={"da": ""})
    status = {s.language: s for s in await completeness(site)}
    assert status["sv"].texts_missing == ()
    assert status["da"].texts_missing == ("title",)
    assert status["en"].texts_missing == ("title",)
    assert [(p.key, p.name, p.description, p.used) for p in status["da"].purposes] == [
        ("statistics", False, True, True)]
    assert status["da"].summary() == (
        f"Danish: {len(TEXT_KEYS) - 1} of {len(TEXT_KEYS)} texts, 1 purpose untranslated, "
        "2 cookies without a Danish description")
    assert not status["da"].complete

    # Described in every language: complete.
    await drafts.edit_texts(site, "da", {"title": "Cookies hos Kursgården"})
    await drafts.edit_texts(site, "en", {"title": "Cookies at Kursgården"})
    await drafts.edit_purpose(site, "statistics", name={"da": "Statistik"},
                              description={"da": "Hjælper os med at forstå brugen."})
    for name, purpose in (("ab_test", "statistics"), ("kurs_filter", "preferences")):
        await inventory.add_item(site, name=name, purpose=purpose, description={
            "sv": "Text.", "da": "Tekst.", "en": "Text in English."})
    assert all(s.complete for s in await completeness(site))
    assert (await completeness(site))[1].summary() == (
        f"Danish: {len(TEXT_KEYS)} of {len(TEXT_KEYS)} texts, all 3 cookies described")


async def test_a_language_without_built_in_texts_misses_every_text(app: Starlette) -> None:
    site = await sites.create_site("Fi", ["fi.example"], languages=("en", "fi"), force=True)
    # The site starts with copies of our English texts in Finnish: not Finnish ones.
    assert untranslated_texts(site, "fi") == list(TEXT_KEYS)
    assert untranslated_texts(site, "en") == []
    await drafts.edit_texts(site, "fi", {"title": "Evästeet"})
    assert "title" not in untranslated_texts(site, "fi")
    assert len(untranslated_texts(site, "fi")) == len(TEXT_KEYS) - 1


async def test_the_lint_names_every_missing_translation(app: Starlette) -> None:
    site = await _site()
    await drafts.edit_texts(site, "sv", {"title": "Kakor hos Kursgården",
                                         "reject_all": "Nej tack"})
    warnings = [(f.code, f.language, f.message) for f in await lint.lint(site)
                if f.code.startswith("untranslated_")]
    assert sorted(warnings) == sorted([
        ("untranslated_text", lang, f"{lang}: the text {key!r} is yours in another language "
         f"but not in {name}: visitors reading {name} get our built-in text instead")
        for lang, name in (("da", "Danish"), ("en", "English"))
        for key in ("title", "reject_all")
    ] + [
        ("untranslated_cookie", lang, f"{lang}: the cookie {item} has no {name} description: "
         f"visitors reading {name} see its row without one")
        for lang, name, items in (("sv", "Swedish", ["ab_test"]),
                                  ("da", "Danish", ["ab_test", "kurs_filter"]),
                                  ("en", "English", ["ab_test", "kurs_filter"]))
        for item in items
    ])
    # Warnings only: publishing is not refused for a missing translation.
    assert not [f for f in await lint.lint(site) if f.is_error]


async def test_a_declaration_row_never_mixes_languages(app: Starlette) -> None:
    site = await _site()
    version = await publishing.publish(site)
    config = publishing.parse_config(version)
    cookies = {c.name: c.description for c in config.cookies}
    # Published: each description only in the site's languages it exists in; the knowledge
    # base's translations of the scanned _ga are published with it.
    assert set(cookies["_ga"]) == {"sv", "da", "en"}
    assert cookies["kurs_filter"] == {"sv": "Kommer ihåg vilka kurser du filtrerade på."}
    assert cookies["ab_test"] == {}
    danish = declaration.declaration_of(config, "da")
    items = {i["name"]: i for p in danish["purposes"] for i in p["items"]}
    assert items["_ga"]["description"].startswith("Tilfældigt klient-ID")
    # Described in Swedish only: a Danish visitor gets no Swedish sentence in a Danish row.
    assert items["kurs_filter"]["description"] == ""
    assert declaration.declaration_of(config, "sv")["purposes"][1]["items"][0][
        "description"] == "Kommer ihåg vilka kurser du filtrerade på."
    # The words a Danish receipt's hash covers are exactly those shown.
    shown = {c["name"]: c["description"]
             for c in publishing.texts_for_language(config, "da")["cookies"]}
    assert shown == {name: item["description"] for name, item in items.items()}
