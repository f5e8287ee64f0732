"""The banner's appearance (``services/appearance.py``), its checks (``services/banner_fit.py``
and the lint), its place in the published config and the diff, and the logo's route."""

from __future__ import annotations

import struct

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from cmp_server.errors import InvalidRequest
from cmp_server.models import AuditEntry, ConfigVersion, Logo
from cmp_server.schemas import Appearance, PublishedConfig
from cmp_server.services import appearance, changes, drafts, lint, publishing
from cmp_server.services.banner_fit import _lines, contrast, first_layer_fit, luminance
from cmp_server.services.staff import Actor

from .factories import png_bytes, published_site, staff_member

# 600 characters of Swedish, as a site would write its first layer's description.
SWEDISH_600 = (
    "Vi använder kakor och liknande tekniker för att webbplatsen ska fungera, för att förstå "
    "hur den används och för att visa innehåll och annonser som är relevanta för dig. Med "
    "ditt samtycke delar vi uppgifter om din användning med våra partner inom analys och "
    "marknadsföring, som kan kombinera dem med annan information du har gett dem. Du kan när "
    "som helst ändra eller återkalla ditt samtycke via knappen längst ned på sidan. Läs mer "
    "om vilka kakor vi använder, hur länge de sparas och vilka som tar emot uppgifterna i vår "
    "kakpolicy. Inga kakor för statistik eller marknadsföring sätts innan du har valt. Tack!"
)[:600].ljust(600, ".")


async def actor(role: str = "privacy") -> Actor:
    member = await staff_member(role)
    return Actor(member.id, member.email, member.name, member.role, "session", "csrf")


def test_contrast_is_wcags_ratio() -> None:
    assert luminance("#ffffff") == pytest.approx(1.0)
    assert luminance("#000000") == 0.0
    assert contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)  # order does not matter
    assert contrast("#1d3f72", "#1d3f72") == pytest.approx(1.0)
    # WCAG's own borderline: #767676 on white passes AA, #777777 does not.
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_an_appearance_is_checked_and_its_colours_lower_cased() -> None:
    look = Appearance.model_validate({"colors": {"background": "#FFEEDD"}, "layout": "bar"})
    assert look.colors.background == "#ffeedd" and look.colors.text == "#1b1b1b"
    for bad in ({"colors": {"text": "red"}}, {"colors": {"text": "#fff"}}, {"layout": "top"},
                {"radius": 25}, {"radius": -1}, {"font": "Comic Sans"},
                {"buttons": {"reject_all": "tertiary"}},
                {"logo": {"file": "https://evil.example/x.png", "width": 1, "height": 1}}):
        with pytest.raises(ValueError):
            Appearance.model_validate(bad)


def test_the_served_config_leaves_the_default_look_out() -> None:
    base = {"site_key": "k", "version": 1, "default_language": "en", "languages": ["en"],
            "policy_url": None, "texts": {"en": {}}, "purposes": [], "vendors": [],
            "cookies": [], "options": {"consent_lifetime_days": 180, "cookie_domain": None,
                                       "consent_mode": {"map": {}}}}
    # A version published before appearances existed reads as the default look.
    old = PublishedConfig.model_validate(base)
    assert old.appearance == Appearance()
    assert "appearance" not in old.json_object()
    bar = old.model_copy(update={"appearance": Appearance(layout="bar")})
    served = bar.json_object()["appearance"]
    assert isinstance(served, dict) and served["layout"] == "bar"
    assert served["colors"]["background"] == "#ffffff"


async def test_an_edit_is_saved_audited_and_a_no_op_writes_nothing(app: Starlette) -> None:
    site, _ = await published_site()
    by = await actor()
    await appearance.edit_appearance(
        site, {"layout": "dialog", "colors": {"background": "#FFF8E7"}, "radius": 0}, by=by)
    look = appearance.draft_appearance(site)
    assert (look.layout, look.colors.background, look.radius) == ("dialog", "#fff8e7", 0)
    entry = await AuditEntry.get(action="banner.appearance")
    assert entry.actor == by.email
    assert entry.before == {"layout": "corner", "colors.background": "#ffffff", "radius": 8}
    assert entry.after == {"layout": "dialog", "colors.background": "#fff8e7", "radius": 0}
    # The same again changes nothing and writes no audit entry.
    await appearance.edit_appearance(site, look.model_dump(mode="json"), by=by)
    assert await AuditEntry.filter(action="banner.appearance").count() == 1
    with pytest.raises(InvalidRequest) as refused:
        await appearance.edit_appearance(site, {"colors": {"link": "blue"}}, by=by)
    assert refused.value.field == "appearance.colors.link"
    assert appearance.draft_appearance(site).colors.link == "#1d3f72"


async def test_the_look_is_published_versioned_and_in_the_summary_and_diff(
    app: Starlette,
) -> None:
    site, first = await published_site()
    assert "appearance" not in first.canonical_json  # the default look costs no byte
    await appearance.edit_appearance(site, {"layout": "bar", "colors": {"primary": "#0b5e2a"}})
    summary = await changes.publish_summary(site)
    settings = {c.key: c.fields[0] for c in summary.changes.settings}
    assert settings["appearance.layout"].before == "corner"
    assert settings["appearance.layout"].after == "bar"
    assert settings["appearance.colors.primary"].after == "#0b5e2a"
    assert not summary.material  # a new look asks no visitor again
    assert any('"layout": "bar"' in line.text and line.kind == "add" for line in summary.lines)
    second = await changes.publish_draft(site)
    served = orjson.loads(second.canonical_json)
    assert served["appearance"]["layout"] == "bar"
    assert served["appearance"]["colors"]["primary"] == "#0b5e2a"
    diff = await changes.version_diff(site, first.number, second.number)
    assert {c.key for c in diff.changes.settings} == {
        "appearance.layout", "appearance.colors.primary"}
    # The draft now is the version: nothing to publish.
    assert (await changes.publish_summary(site)).unchanged


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def _webp(chunk: bytes, body: bytes) -> bytes:
    payload = b"WEBP" + chunk + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def test_the_image_size_is_read_from_the_files_own_header() -> None:
    assert appearance.image_size(png_bytes(120, 40)) == ("png", 120, 40)
    assert appearance.image_size(_jpeg(300, 100)) == ("jpeg", 300, 100)
    vp8x = _webp(b"VP8X", b"\x00" * 4 + (199).to_bytes(3, "little") + (49).to_bytes(3, "little"))
    assert appearance.image_size(vp8x) == ("webp", 200, 50)
    bits = (320 - 1) | ((80 - 1) << 14)
    vp8l = _webp(b"VP8L", b"\x2f" + struct.pack("<I", bits))
    assert appearance.image_size(vp8l) == ("webp", 320, 80)
    vp8 = _webp(b"VP8 ", b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", 64, 32))
    assert appearance.image_size(vp8) == ("webp", 64, 32)
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>'
    for data, words in ((svg, "SVG logos are not taken"), (b"  <svg onload=x>", "SVG"),
                        (b"GIF89a....", "PNG, JPEG or WebP"),
                        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "damaged"),
                        (_webp(b"VP8L", b"\x00"), "damaged")):
        with pytest.raises(InvalidRequest, match=words):
            appearance.image_size(data)


async def test_a_logo_is_kept_by_its_hash_and_limited_in_bytes_and_pixels(
    app: Starlette,
) -> None:
    site, _ = await published_site()
    by = await actor()
    data = png_bytes(240, 80)
    logo = await appearance.upload_logo(site, data, by=by)
    assert logo.file.endswith(".png") and (logo.width, logo.height) == (240, 80)
    assert appearance.draft_appearance(site).logo == logo
    stored = await appearance.logo_file(logo.file)
    assert stored.data == data and stored.media_type == "image/png"
    entry = await AuditEntry.get(action="banner.logo")
    assert entry.after == {"logo.file": logo.file, "logo.width": 240, "logo.height": 80}
    assert entry.before == {"logo.file": None, "logo.width": None, "logo.height": None}
    too_big = png_bytes(1, 1) + b"\x00" * appearance.MAX_LOGO_BYTES
    too_wide = png_bytes(appearance.MAX_LOGO_SIDE + 1, 1)
    for bad, words in ((too_big, "at most 100 KB"), (too_wide, "at most 1024×1024 pixels"),
                       (b"", "choose a logo")):
        with pytest.raises(InvalidRequest, match=words):
            await appearance.upload_logo(site, bad, by=by)
    assert appearance.draft_appearance(site).logo == logo  # a refusal keeps the logo


async def test_an_unused_logo_goes_and_a_published_one_stays(app: Starlette) -> None:
    site, _ = await published_site()
    first = await appearance.upload_logo(site, png_bytes(10, 10))
    second = await appearance.upload_logo(site, png_bytes(20, 10))
    # The first was in no version: replacing it deleted it.
    assert await Logo.filter(site=site).count() == 1
    await changes.publish_draft(site)  # the second is now shown to visitors
    await appearance.upload_logo(site, png_bytes(30, 10))
    await appearance.remove_logo(site)
    assert appearance.draft_appearance(site).logo is None
    kept = {f"{logo.sha256}.png" for logo in await Logo.filter(site=site)}
    assert kept == {second.file}  # what a published version names is served for good
    assert first.file not in kept


async def test_the_logo_route_serves_our_copy_for_a_year(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    site, _ = await published_site()
    logo = await appearance.upload_logo(site, png_bytes(40, 20))
    r = await client.get(f"/v1/logos/{logo.file}")
    assert r.status_code == 200 and r.content == png_bytes(40, 20)
    assert r.headers["content-type"] == "image/png"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]
    again = await client.get(f"/v1/logos/{logo.file}",
                             headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    digest = logo.file.removesuffix(".png")
    for missing in (f"{digest}.jpg", f"{'0' * 64}.png", "x.png", f"{digest}.svg",
                    f"{digest.upper()}.png"):
        r = await client.get(f"/v1/logos/{missing}")
        assert r.status_code == 404, missing
        assert r.json()["error"] == "not_found"


async def test_the_lint_refuses_low_contrast_and_unequal_buttons(app: Starlette) -> None:
    site, _ = await published_site()
    assert not [f for f in await lint.lint(site)
                if f.code in ("contrast", "button_prominence", "first_layer_fit")]
    await appearance.edit_appearance(site, {
        "colors": {"text": "#999999", "primary": "#ffd700", "primary_text": "#ffffff",
                   "secondary": "#ffffff", "secondary_text": "#eeeeee"},
        "buttons": {"reject_all": "secondary"},
    })
    found = [f for f in await lint.lint(site) if f.is_error]
    messages = " | ".join(f.message for f in found)
    assert "the text (#999999 on #ffffff) have a contrast of 2.85:1" in messages
    assert "the primary buttons' labels (#ffffff on #ffd700)" in messages
    assert "the secondary buttons' labels (#eeeeee on #ffffff)" in messages
    assert "the primary buttons (#ffd700 on #ffffff) stand out from the banner by" in messages
    assert "Accept all is a primary button and Reject all a secondary one" in messages
    assert {f.code for f in found} == {"contrast", "button_prominence"}
    with pytest.raises(InvalidRequest, match="contrast of 2.85:1"):
        await changes.publish_draft(site)
    # Both secondary, readable: no finding about the buttons.
    await appearance.edit_appearance(site, {
        "colors": {"secondary": "#ffffff", "secondary_text": "#1d3f72"},
        "buttons": {"accept_all": "secondary", "reject_all": "secondary"},
    })
    await appearance.edit_appearance(site, {"colors": {"text": "#1b1b1b"}})
    assert not [f for f in await lint.lint(site)
                if f.code in ("contrast", "button_prominence")]


async def test_the_lint_refuses_a_first_layer_too_long_for_a_phone(app: Starlette) -> None:
    site, _ = await published_site()
    await drafts.edit_texts(site, "sv", {"description": SWEDISH_600})
    found = [f for f in await lint.lint(site) if f.code == "first_layer_fit"]
    assert [f.language for f in found] == ["sv"] and found[0].is_error
    assert "sv: the first layer does not fit a 320×568 phone in the corner layout" in (
        found[0].message)
    with pytest.raises(InvalidRequest, match="does not fit a 320×568 phone"):
        await changes.publish_draft(site)
    # About 350 characters of it fit.
    await drafts.edit_texts(site, "sv", {"description": SWEDISH_600[:350]})
    assert not [f for f in await lint.lint(site) if f.code == "first_layer_fit"]


def test_the_budget_counts_lines_as_a_narrow_box_wraps_them() -> None:
    from cmp_server.defaults import DEFAULT_TEXTS

    sv = dict(DEFAULT_TEXTS["sv"])
    for layout in ("corner", "bar", "dialog"):
        assert first_layer_fit(Appearance(layout=layout), sv).fits, layout
    long = {**sv, "description": SWEDISH_600}
    for layout in ("corner", "bar", "dialog"):
        fit = first_layer_fit(Appearance(layout=layout), long)
        assert not fit.fits and 0 < fit.over_by < 400, layout
    # The bar is wider than the box: more characters on a line.
    assert (first_layer_fit(Appearance(layout="bar"), sv).per_line
            > first_layer_fit(Appearance(layout="corner"), sv).per_line)
    # A logo, the site's (maybe wider) font and long labels all take room.
    base = first_layer_fit(Appearance(), sv).needed
    assert first_layer_fit(Appearance.model_validate(
        {"logo": {"file": "a" * 64 + ".png", "width": 1, "height": 1}}), sv).needed > base
    assert first_layer_fit(Appearance(font="inherit"), long).needed > first_layer_fit(
        Appearance(), long).needed
    wordy = {**sv, "reject_all": "Nej tack, jag vill inte ha några kakor alls här"}
    assert first_layer_fit(Appearance(), wordy).needed > base
    # A word longer than a line is broken, not left running off the edge.
    assert _lines("x" * 200, 32) == 7
    assert _lines("ab " * 20, 32) == 2 and _lines("a\nb", 32) == 2 and _lines("", 32) == 1


async def test_a_stored_look_that_is_no_look_reads_as_the_default(app: Starlette) -> None:
    site, _ = await published_site()
    site.appearance = {"layout": "sideways"}
    await site.save(update_fields=["appearance"])
    assert appearance.draft_appearance(site) == Appearance()
    version = await ConfigVersion.filter(site=site).first()
    assert version is not None and publishing.parse_config(version).appearance == Appearance()
