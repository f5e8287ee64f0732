"""Answer a consent banner the way a visitor would: accept all, or reject all.

Three ways, tried in this order on a page:

1. our own banner, through its API ``window.cmp.acceptAll()`` / ``rejectAll()``;
2. a known consent tool, by @duckduckgo/autoconsent's rules (vendored, MPL-2.0, injected into
   every frame; see scanner/vendor/refresh.sh);
3. a visible button whose text says accept/reject in English, Swedish, Danish, Norwegian,
   Finnish or German, inside something that mentions cookies or consent (iframes and open
   shadow roots included).

Whichever way it answers, our own banner's consent receipt never reaches its server
(``receipts_script``): a scan is no visitor, and its choices are no proof of consent.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, Literal

from playwright.async_api import BrowserContext, Frame, Page
from playwright.async_api import Error as PlaywrightError

__all__ = ["AUTOCONSENT_BINDING", "BannerDriver", "autoconsent_init_script", "receipts_script"]

Action = Literal["accept", "reject"]
AUTOCONSENT_BINDING = "__cmpScanAutoconsent"
_VENDOR = files("scanner").joinpath("vendor", "autoconsent")

# Weight 3: says "all"/"only necessary" explicitly; 2: the plain verb; 1: a bare acknowledgement.
ACCEPT_PHRASES: dict[str, int] = {
    **dict.fromkeys(
        [
            "accept all", "accept all cookies", "allow all", "allow all cookies",
            "accept cookies", "allow cookies", "agree and close", "accept and close",
            "acceptera alla", "acceptera alla cookies", "godkänn alla", "godkänn alla cookies",
            "tillåt alla", "tillåt alla cookies", "accepter alle", "accepter alle cookies",
            "tillad alle", "tillad alle cookies", "godkend alle", "godta alle", "aksepter alle",
            "tillat alle", "godkjenn alle", "tillat alle informasjonskapsler",
            "hyväksy kaikki", "hyväksy kaikki evästeet", "salli kaikki", "hyväksy evästeet",
            "alle akzeptieren", "alle cookies akzeptieren", "alle zulassen", "allen zustimmen",
            "alle annehmen", "akzeptieren und schließen",
        ],
        3,
    ),
    **dict.fromkeys(
        [
            "accept", "allow", "i accept", "i agree", "agree", "yes, i agree", "yes i agree",
            "acceptera", "godkänn", "tillåt", "jag godkänner", "jag accepterar", "accepter",
            "tillad", "godkend", "jeg accepterer", "godta", "aksepter", "godkjenn", "jeg godtar",
            "hyväksy", "hyväksyn", "salli", "akzeptieren", "zustimmen", "annehmen",
            "einverstanden", "ich stimme zu", "zulassen",
        ],
        2,
    ),
    **dict.fromkeys(
        ["ok", "okay", "got it", "okej", "jag förstår", "forstået", "jeg forstår", "selvä",
         "verstanden", "continue"],
        1,
    ),
}
REJECT_PHRASES: dict[str, int] = {
    **dict.fromkeys(
        [
            "reject all", "reject all cookies", "decline all", "deny all", "refuse all",
            "necessary only", "only necessary", "only necessary cookies", "essential only",
            "only essential", "use necessary cookies only", "accept only necessary",
            "accept necessary", "accept necessary cookies", "allow necessary cookies only",
            "reject non-essential", "reject optional cookies", "continue without accepting",
            "avvisa alla", "neka alla", "avböj alla", "endast nödvändiga",
            "endast nödvändiga cookies", "bara nödvändiga", "tillåt endast nödvändiga",
            "acceptera endast nödvändiga", "godkänn endast nödvändiga", "afvis alle",
            "kun nødvendige", "kun nødvendige cookies", "tillad kun nødvendige",
            "accepter kun nødvendige", "avvis alle", "avslå alle", "bare nødvendige",
            "godta kun nødvendige", "kun nødvendige informasjonskapsler", "hylkää kaikki",
            "vain välttämättömät", "vain välttämättömät evästeet", "salli vain välttämättömät",
            "hyväksy vain välttämättömät", "alle ablehnen", "nur notwendige",
            "nur notwendige cookies", "nur erforderliche", "nur erforderliche cookies",
            "nur essenzielle", "nur essenzielle cookies", "nur technisch notwendige",
            "nur notwendige cookies akzeptieren", "alle verweigern",
        ],
        3,
    ),
    **dict.fromkeys(
        [
            "reject", "decline", "deny", "refuse", "disagree", "no thanks", "avvisa", "neka",
            "avböj", "nej tack", "afvis", "afslå", "nej tak", "avvis", "avslå", "nei takk",
            "hylkää", "kieltäydy", "ei kiitos", "ablehnen", "verweigern", "nein danke",
            "nicht zustimmen",
        ],
        2,
    ),
}
SETTINGS_PHRASES: dict[str, int] = dict.fromkeys(
    [
        "settings", "cookie settings", "cookies settings", "manage settings", "preferences",
        "manage preferences", "cookie preferences", "customize", "customise", "manage cookies",
        "more options", "show purposes", "inställningar", "cookieinställningar", "anpassa",
        "hantera", "hantera cookies", "indstillinger", "cookieindstillinger", "tilpas",
        "innstillinger", "tilpass", "administrer", "asetukset", "evästeasetukset", "muokkaa",
        "einstellungen", "cookie-einstellungen", "anpassen", "verwalten", "mehr optionen",
        "individuelle einstellungen",
    ],
    2,
)
SAVE_PHRASES: dict[str, int] = dict.fromkeys(
    [
        "save", "save settings", "save preferences", "save my choices", "save choices",
        "confirm my choices", "confirm choices", "save and close", "spara", "spara val",
        "spara inställningar", "bekräfta val", "gem", "gem valg", "gem indstillinger", "lagre",
        "lagre innstillinger", "lagre valg", "bekreft valg", "tallenna", "tallenna asetukset",
        "tallenna valinnat", "vahvista valinnat", "speichern", "auswahl speichern",
        "einstellungen speichern", "auswahl bestätigen",
    ],
    2,
)
# Never click something that also says "accept" while refusing.
_NO_ACCEPT: dict[str, int] = dict.fromkeys(ACCEPT_PHRASES, 0)
# Ancestors of a clickable control must mention one of these for it to count as a banner.
BANNER_CONTEXT = (
    r"cookie|consent|gdpr|\bcmp\b|privacy|samtycke|kakor|evästeet|eväste|informasjonskaps"
    r"|datenschutz|einwilligung|samtykke|personuppgift|tietosuoja"
)


@functools.cache
def _banner_js() -> str:
    return files("scanner").joinpath("_banner.js").read_text(encoding="utf-8")


@functools.cache
def receipts_script() -> str:
    """The init script that answers our embed's receipt posts in the page (``_receipts.js``;
    docs/contracts.md, "Scanner traffic")."""
    return files("scanner").joinpath("_receipts.js").read_text(encoding="utf-8")


@functools.cache
def autoconsent_init_script() -> str:
    """The autoconsent bundle, wired to our binding (queued until the binding exists)."""
    bundle = _VENDOR.joinpath("autoconsent.playwright.js").read_text(encoding="utf-8")
    prelude = (  # noqa: UP031 - JS braces make a format string unreadable
        "(() => { const q = []; const b = %r;"
        " const flush = () => { const f = window[b]; if (typeof f !== 'function') return false;"
        " while (q.length) { try { f(q.shift()); } catch (e) {} } return true; };"
        " window.autoconsentSendMessage = (m) => { q.push(JSON.parse(JSON.stringify(m)));"
        " if (!flush()) setTimeout(flush, 0); return Promise.resolve(); }; })();\n"
    ) % AUTOCONSENT_BINDING
    return prelude + bundle


@functools.cache
def _rules() -> list[tuple[re.Pattern[str] | None, dict[str, Any]]]:
    data = json.loads(_VENDOR.joinpath("rules.json").read_text(encoding="utf-8"))
    compiled: list[tuple[re.Pattern[str] | None, dict[str, Any]]] = []
    for rule in data["autoconsent"]:
        pattern = (rule.get("runContext") or {}).get("urlPattern")
        try:
            compiled.append((re.compile(pattern) if pattern else None, rule))
        except re.error:  # a JS-only construct: keep the rule, autoconsent checks it itself
            compiled.append((None, rule))
    return compiled


def rules_for(url: str) -> list[dict[str, Any]]:
    """Only the rules that may run on this URL: 600 of the 800 are for one site each."""
    return [rule for pattern, rule in _rules() if pattern is None or pattern.search(url)]


@dataclass
class _PageBanner:
    cmp: str | None = None
    popup: bool = False
    result: bool | None = None
    nothing_in_main: bool = False


@dataclass
class BannerDriver:
    """One per browser context of an accept or reject pass."""

    action: Action
    pages: dict[Page, _PageBanner] = field(default_factory=dict)

    async def install(self, context: BrowserContext) -> None:
        await context.expose_binding(AUTOCONSENT_BINDING, self._on_message)

    async def arm(self, page: Page) -> None:
        """Load the rule engine into this page's frames (before it navigates).

        Only the page that answers the banner gets it: the answer then holds for the context,
        and running ~250 rule detectors in every frame of every page costs a third of a
        scan's time on a small machine.
        """
        await page.add_init_script(script=autoconsent_init_script())

    def _config(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "autoAction": "optIn" if self.action == "accept" else "optOut",
            "disabledCmps": [],
            "enablePrehide": False,
            # Hiding a banner is not answering it; leave it to the text fallback.
            "enableCosmeticRules": False,
            "enableGeneratedRules": True,
            "enableHeuristicDetection": False,
            "detectRetries": 6,
            "isMainWorld": True,
            "logs": {"errors": False},
        }

    async def _on_message(self, source: dict[str, Any], message: dict[str, Any]) -> None:
        frame: Frame = source["frame"]
        state = self.pages.setdefault(source["page"], _PageBanner())
        kind = message.get("type")
        try:
            if kind == "init":
                reply = {
                    "type": "initResp",
                    "config": self._config(),
                    "rules": {"autoconsent": rules_for(frame.url)},
                }
                await frame.evaluate("m => window.autoconsentReceiveMessage(m)", reply)
            elif kind == "eval":
                result = await frame.evaluate(message["code"])
                await frame.evaluate(
                    "m => window.autoconsentReceiveMessage(m)",
                    {"type": "evalResp", "id": message["id"], "result": bool(result)},
                )
        except PlaywrightError:
            return  # the frame went away
        if kind == "popupFound":
            state.cmp, state.popup = str(message.get("cmp")), True
        elif kind in ("optInResult", "optOutResult"):
            state.cmp = str(message.get("cmp"))
            state.result = bool(message.get("result")) or bool(state.result)
        elif kind == "report" and message.get("mainFrame"):
            lifecycle = (message.get("state") or {}).get("lifecycle")
            state.nothing_in_main = lifecycle == "nothingDetected"

    async def answer(self, page: Page, timeout: float) -> str:
        """Answer the banner on this page; return how ("cmp", "autoconsent:<rule>", ...)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        last_text_try = -10.0
        while True:
            now = loop.time() - start
            if await self._own_cmp(page):
                return "cmp"
            state = self.pages.get(page, _PageBanner())
            if state.result:
                return f"autoconsent:{state.cmp}"
            # Text matching once autoconsent knows nothing, or has failed, or is slow.
            give_up_on_rules = state.nothing_in_main or state.result is False or now > 1.0
            if give_up_on_rules and not (state.popup and state.result is None and now < 4):
                if now - last_text_try >= 1.0:
                    last_text_try = now
                    if await self._click_text(page):
                        return "text"
            # No banner: stop once the rules found nothing and 3 s of text searches failed.
            if now >= timeout or (state.nothing_in_main and now >= 3.0):
                return "not found"
            await asyncio.sleep(0.25)

    def forget(self, page: Page) -> None:
        self.pages.pop(page, None)

    async def _own_cmp(self, page: Page) -> bool:
        method = "acceptAll" if self.action == "accept" else "rejectAll"
        try:
            return bool(
                await page.evaluate(
                    """async (m) => {
                        const cmp = window.cmp;
                        if (!cmp || typeof cmp[m] !== 'function') return false;
                        const r = cmp[m]();
                        if (r && typeof r.then === 'function')
                            await Promise.race([r, new Promise((ok) => setTimeout(ok, 3000))]);
                        return true;
                    }""",
                    method,
                )
            )
        except PlaywrightError:
            return False

    async def _click_text(self, page: Page) -> bool:
        if self.action == "accept":
            # Reject wordings often contain the accept verb ("accept only necessary"): veto.
            return await self._click_best(
                page, {**ACCEPT_PHRASES, **dict.fromkeys(REJECT_PHRASES, 0)}
            )
        if await self._click_best(page, REJECT_PHRASES):
            return True
        # Many banners keep "reject" one layer down: open the settings, then reject there,
        # or save the choices as they stand (optional purposes start unticked).
        if not await self._click_best(page, {**SETTINGS_PHRASES, **_NO_ACCEPT}):
            return False
        await asyncio.sleep(0.7)
        return await self._click_best(page, REJECT_PHRASES) or await self._click_best(
            page, {**SAVE_PHRASES, **_NO_ACCEPT}
        )

    async def _click_best(self, page: Page, phrases: dict[str, int]) -> bool:
        """Click the best-scoring control across all frames; False if there is none."""
        argument = {
            "phrases": sorted(phrases.items(), key=lambda p: -len(p[0])),
            "context": BANNER_CONTEXT,
        }
        best: tuple[int, Any] | None = None
        for frame in page.frames:
            try:
                handle = await frame.evaluate_handle(_banner_js(), argument)
                score = await (await handle.get_property("score")).json_value()
                element = (await handle.get_property("el")).as_element()
            except PlaywrightError:
                continue
            if element is not None and score > 0 and (best is None or score > best[0]):
                best = (int(score), element)
        if best is None:
            return False
        try:
            await best[1].click(timeout=2000)
        except PlaywrightError:
            try:
                await best[1].evaluate("el => el.click()")
            except PlaywrightError:
                return False
        return True
