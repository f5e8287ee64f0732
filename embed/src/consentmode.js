// Google Consent Mode v2 and the dataLayer event for GTM users.
// https://developers.google.com/tag-platform/security/guides/consent
import {
  CM_CONSENT, CM_DEFAULT, CM_DEFAULT_WAIT, CM_DENIED, CM_GRANTED, CM_PASSTHROUGH,
  CM_REDACTION, CM_REGION, CM_SET, CM_TYPES, CM_UPDATE, CM_WAIT, DATALAYER_EVENT,
  DATALAYER_READY,
} from './constants.js';

/**
 * gtag.js reads `arguments` objects from the dataLayer, not arrays, so push those.
 * @returns {(...args: any[]) => void}
 */
function gtagFn() {
  const w = /** @type {any} */ (window);
  const dl = (w.dataLayer = w.dataLayer || []);
  return function () {
    dl.push(arguments);
  };
}

/**
 * Signal states for the current choices: a signal is granted when every purpose mapped to it
 * is granted; an empty list is always granted (contracts.md).
 * @param {Object<string, string[]>} map
 * @param {(purpose: string) => boolean} granted
 */
function signals(map, granted) {
  /** @type {Object<string, string>} */
  const out = {};
  for (const t of CM_TYPES) {
    const ps = map[t] || [];
    out[t] = ps.every(granted) ? CM_GRANTED : CM_DENIED;
  }
  return out;
}

/**
 * Push `consent default` (all seven types) before any tag runs, then `update` for a choice
 * already stored, and again after every change. Returns the subscriber for changes.
 * @param {import('./config.js').Site} site
 * @param {ReturnType<typeof import('./consent.js').createConsent>} consent
 */
export function startConsentMode(site, consent) {
  const opts = site._options.consent_mode || {};
  const dl = () => /** @type {any[]} */ (/** @type {any} */ (window).dataLayer);
  const gtag = gtagFn();
  const enabled = opts.enabled !== false;
  const map = opts.map || {};
  if (enabled) {
    /** @type {Object<string, any>} */
    const def = signals(map, (p) => site._purposes.some((x) => x.key === p && !!x.required));
    def[CM_WAIT] = opts.wait_for_update == null ? CM_DEFAULT_WAIT : opts.wait_for_update;
    if (opts.region && opts.region.length) def[CM_REGION] = opts.region;
    gtag(CM_CONSENT, CM_DEFAULT, def);
    if (opts.ads_data_redaction != null) gtag(CM_SET, CM_REDACTION, !!opts.ads_data_redaction);
    if (opts.url_passthrough != null) gtag(CM_SET, CM_PASSTHROUGH, !!opts.url_passthrough);
  }
  const update = () => {
    if (enabled) gtag(CM_CONSENT, CM_UPDATE, signals(map, consent._granted));
  };
  const stored = consent._get();
  if (stored) {
    update();
    dl().push({ event: DATALAYER_READY, cmp_consent: consent._choices() });
  }
  /** @type {import('./consent.js').Listener} */
  return (c, change) => {
    update();
    dl().push({ event: DATALAYER_EVENT, cmp_consent: consent._choices(), cmp_method: change._method });
  };
}
