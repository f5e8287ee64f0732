"""The evidence pages in a real Chromium at 320, 768 and 1366 px: the signed log and the keys
with their fingerprints, a period's bundle downloaded and verified, a receipt's place in the
log with its proof opened, a visitor's bundle. Nothing wider than the viewport. Screenshots
to ``CMP_TEST_SCREENSHOTS`` when set."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from playwright.async_api import Browser, Page

from cmp_verify.bundle import read_bundle, verify

from ..embed.servers import CmpServer
from ..factories import ORIGIN, PASSWORD, published_site, receipt_body

pytestmark = pytest.mark.browser

WIDTHS = (320, 768, 1366)


async def _look(page: Page, shots: Path, name: str, width: int) -> None:
    await page.screenshot(path=shots / f"{name}-{width}.png", full_page=True)
    scrolled = await page.evaluate("document.documentElement.scrollWidth")
    assert scrolled <= width, (name, width, scrolled)


async def test_the_log_keys_bundles_and_a_receipts_proof(
    server: CmpServer, browser: Browser, shots: Path
) -> None:
    from cmp_server.services import checkpoints, signing, staff

    async def make() -> str:
        site, _ = await published_site("Kursgården")
        await staff.create_staff("privacy@evidence.example", PASSWORD, "privacy")
        await signing.create_key(server.settings.signing_key_path)
        await signing.rotate_key(server.settings.signing_key_path)  # a retired key listed too
        return site.key

    key = await server.call(make())
    visitor = str(uuid.uuid4())
    base = f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=base) as http:
        for i in range(6):
            body = receipt_body(consent_id=visitor if i < 2 else str(uuid.uuid4()))
            r = await http.post(f"/v1/sites/{key}/consents", content=orjson.dumps(body),
                                headers={"Origin": ORIGIN, "Content-Type": "text/plain"})
            assert r.status_code == 201, r.text
            if i == 0:
                first = body["receipt_id"]
    signer_path = server.settings.signing_key_path
    await server.call(checkpoints.run_checkpoints(signer_path))

    for width in WIDTHS:
        context = await browser.new_context(viewport={"width": width, "height": 900},
                                            accept_downloads=True)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, seen=errors: seen.append(str(e)))
        await page.goto(f"{base}/admin/")
        await page.get_by_label("Email").fill("privacy@evidence.example")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("heading", name="Sites").wait_for()

        await page.goto(f"{base}/admin/sites/{key}/consents")
        await page.get_by_role("link", name="Evidence", exact=True).click()
        await page.get_by_role("heading", name="Signing keys").wait_for()
        text = await page.locator("main").inner_text()
        assert "retired" in text and "current" in text and "fingerprint" in text
        await _look(page, shots, "evidence", width)
        async with page.expect_download() as info:
            await page.get_by_role("button", name="Download bundle (.zip)").click()
        report = verify(read_bundle(Path(await (await info.value).path())))
        assert report.ok and report.proven == 6, report.problems

        await page.goto(f"{base}/admin/sites/{key}/consents/{first}")
        await page.get_by_text("Checkpoint 6 and the inclusion proof").click()
        proof = await page.locator("section.proof").inner_text()
        assert "Included" in proof and "cmp-checkpoint/1" in proof
        await _look(page, shots, "evidence-receipt", width)

        await page.goto(f"{base}/admin/sites/{key}/visitors/{visitor}")
        await _look(page, shots, "evidence-visitor", width)
        async with page.expect_download() as info:
            await page.get_by_role("button", name="Evidence bundle (.zip)").click()
        report = verify(read_bundle(Path(await (await info.value).path())))
        assert report.ok and (report.receipts, report.chains) == (2, 1), report.problems
        assert not errors, errors
        await context.close()
