// Entry point: wires the consent state to its subscribers. Runs synchronously, first in <head>.
import { createApi, domEvent } from './api.js';
import { createBlocker } from './blocker.js';
import { apiBase, resolveSite } from './config.js';
import { createConsent } from './consent.js';
import { startConsentMode } from './consentmode.js';
import { createSender } from './receipts.js';
import { cookieStore, deleteItems } from './storage.js';
import { fillDeclarations } from './ui/declaration.js';
import { createUI } from './ui/ui.js';
import { onReady, safe } from './util.js';

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
  const blocker = createBlocker(consent._granted, ui._placeholder);

  consent._subscribe((c, change) => deleteItems(site._items, change._denied));
  consent._subscribe(consentMode);
  consent._subscribe(blocker._apply);
  consent._subscribe(sender._record);
  consent._subscribe(ui._changed);
  consent._subscribe(domEvent());

  w.cmp = createApi(consent, ui);
  blocker._start();
  ui._start();
  onReady(() => fillDeclarations(site));
  // Receipts left over from an earlier page view: once the page has loaded (localStorage's
  // first read is a synchronous round trip to the browser process; keep it off first paint).
  if (document.readyState === 'complete') sender._flush();
  else window.addEventListener('load', () => safe(sender._flush));
}

// The server replaces this literal with the published config (docs/contracts.md). Passed as
// an argument so the minifier cannot fold it away or copy it.
(function (raw) {
  safe(() => main(raw));
})('__CMP_CONFIG__');
