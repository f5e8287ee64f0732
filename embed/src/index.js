// Entry point: wires the consent state to its subscribers. Runs synchronously, first in <head>,
// and does only what must precede the page's other tags; the UI is built later.
import { createApi, domEvent } from './api.js';
import { createAutoblock } from './autoblock.js';
import { createBlocker } from './blocker.js';
import { apiBase, resolveSite } from './config.js';
import { createConsent } from './consent.js';
import { SEL_STATE } from './constants.js';
import { startConsentMode } from './consentmode.js';
import { createSender } from './receipts.js';
import { cookieStore, deleteItems } from './storage.js';
import { declarationState, fillDeclaration } from './ui/declaration.js';
import { createUI } from './ui/ui.js';
import { safe } from './util.js';

/** @param {unknown} raw */
function main(raw) {
  const w = /** @type {any} */ (window);
  if (w.cmp && w.cmp.getConsent) return; // the tag is on the page twice
  const site = resolveSite(raw, apiBase());
  if (!site) return;
  const gpcOpt = site._options.gpc || {};
  const gpc = /** @type {any} */ (navigator).globalPrivacyControl === true &&
    gpcOpt.honour !== false ? gpcOpt.purposes || [] : [];
  const consent = createConsent({
    _version: site._raw.version,
    _hash: site._raw.material_hash,
    _purposes: site._purposes,
    _lifetime: site._lifetime,
    _gpc: site._purposes.filter((p) => !p.required && gpc.indexOf(p.key) >= 0).map((p) => p.key),
  }, cookieStore(site));

  // Consent Mode defaults first: before any tag on the page can run.
  const consentMode = startConsentMode(site, consent);
  const sender = createSender(site);
  const ui = createUI(site, consent, sender);
  // The blocker's MutationObserver also fills cookie declarations, also ones added later.
  const blocker = createBlocker(consent._granted, ui._placeholder,
    (el) => fillDeclaration(site, consent._get(), el));
  // Automatic blocking's hooks go in now, before the parser reaches the page's next tag.
  const auto = createAutoblock(site._raw.blocking, consent._granted, blocker._frame, site._api);

  consent._subscribe((c, change) => deleteItems(site._items, change._denied));
  consent._subscribe(consentMode);
  consent._subscribe(blocker._apply);
  consent._subscribe(auto._apply);
  consent._subscribe(sender._record);
  consent._subscribe(ui._changed);
  consent._subscribe(domEvent());
  consent._subscribe((c) => {
    for (const line of Array.prototype.slice.call(document.querySelectorAll(SEL_STATE))) {
      declarationState(site, c, line);
    }
  });
  // A script that has run keeps running, and setting the cookies just deleted, until the page
  // goes: withdrawing its purpose reloads the page. The subscribers above have deleted the
  // cookies and queued the receipt (its keepalive request outlives the page); the old page's
  // timers still run until the new one arrives, so its cookies are deleted once more then.
  if (site._options.reload_on_withdraw !== false) {
    consent._subscribe((c, change) => {
      const prev = change._previous;
      const gone = prev ? change._denied.filter((p) => prev.choices[p]) : [];
      if (!gone.some((p) => blocker._ran(p) || auto._ran(p))) return;
      window.addEventListener('pagehide', () => deleteItems(site._items, gone));
      location.reload();
    });
  }

  w.cmp = createApi(consent, ui, auto._list);
  // Everything above is what must happen before the next tag. The rest runs in tasks of its
  // own: the blocker once the document is parsed, the banner after the page's first frame.
  blocker._start();
  ui._start();
  // Receipts left over from an earlier page view: when the browser is idle after load
  // (localStorage's first read is a synchronous round trip to the browser process). Only for
  // a returning visitor: a receipt is queued after its choice's cookie is written, so without
  // the cookie there is nothing to resend (and the first visit stays free of that read).
  if (!consent._returning) return;
  const flush = () => {
    if (w.requestIdleCallback) w.requestIdleCallback(() => safe(sender._flush), { timeout: 2000 });
    else setTimeout(() => safe(sender._flush), 200);
  };
  if (document.readyState === 'complete') flush();
  else window.addEventListener('load', flush);
}

// The server replaces this literal with the published config (docs/contracts.md). Passed as
// an argument so the minifier cannot fold it away or copy it.
(function (raw) {
  safe(() => main(raw));
})('__CMP_CONFIG__');
