// Consent receipts (docs/contracts.md): every change is queued in localStorage first, then
// sent as text/plain (no CORS preflight). A network failure or 503 leaves it queued for the
// next page view; any other 4xx drops it (resending cannot help).
import {
  API_CONSENTS, API_PREFIX, CONTENT_TYPE, QUEUE_KEY, QUEUE_MAX, QUEUE_MAX_AGE_MS, QUEUE_MAX_TRIES,
  STATUS_RETRY,
} from './constants.js';
import { loadJSON, report, saveJSON, uuid } from './util.js';

/**
 * @typedef {{receipt_id: string, consent_id: string, config_version: number,
 *   choices: Object<string, boolean>, method: string, layer: string, language: string,
 *   page_url: string}} Receipt
 * @typedef {{body: Receipt, queued_at: number, tries?: number}} Queued
 */

/**
 * @param {import('./config.js').Site} site
 */
export function createSender(site) {
  // The admin's preview of a draft: a choice made there is no visitor's consent.
  if (site._raw.preview) {
    return { _record() {}, _flush() {}, _history: () => Promise.resolve([]) };
  }
  const url = site._api + API_PREFIX + encodeURIComponent(site._raw.site_key) + API_CONSENTS;
  const key = QUEUE_KEY + site._raw.site_key;
  /** @type {Object<string, boolean>} receipt ids being sent by this page */
  const inFlight = {};

  /** @returns {Queued[]} */
  const load = (q = loadJSON(key)) => {
    const cutoff = Date.now() - QUEUE_MAX_AGE_MS;
    return Array.isArray(q) ? q.filter((x) => x && x.body && x.queued_at > cutoff) : [];
  };
  /** @param {string} id */
  const remove = (id) => saveJSON(key, load().filter((x) => x.body.receipt_id !== id));

  /** @param {Receipt} body */
  const send = (body) => {
    const id = body.receipt_id;
    if (inFlight[id]) return;
    inFlight[id] = true;
    const payload = JSON.stringify(body);
    const done = () => { delete inFlight[id]; };
    if (!window.fetch) {
      // No response to read: the beacon either went or it did not; keep the copy only if
      // the browser refused to queue it.
      if (navigator.sendBeacon && navigator.sendBeacon(url, new Blob([payload], { type: CONTENT_TYPE }))) remove(id);
      done();
      return;
    }
    fetch(url, {
      method: 'POST',
      body: payload,
      headers: { 'Content-Type': CONTENT_TYPE },
      keepalive: true,
      credentials: 'omit',
      mode: 'cors',
    }).then((r) => {
      done();
      // 2xx recorded (also a repeat of the same receipt id); 4xx other than a retry: drop.
      if (r.status < 500 && r.status !== STATUS_RETRY) remove(id);
      if (r.status >= 400 && r.status !== STATUS_RETRY) report('receipt ' + r.status);
    }, () => done());
  };

  return {
    /**
     * Queue and send a receipt for a change.
     * @param {import('./consent.js').Consent} c
     * @param {import('./consent.js').Change} change
     */
    _record(c, change) {
      /** @type {Receipt} */
      const body = {
        receipt_id: uuid(),
        consent_id: c.consent_id,
        config_version: c.version,
        choices: c.choices,
        method: change._method,
        layer: change._layer,
        language: site._lang,
        page_url: location.origin + location.pathname,
      };
      const q = load();
      q.push({ body, queued_at: Date.now() });
      saveJSON(key, q.slice(-QUEUE_MAX));
      send(body);
    },
    /**
     * Resend what an earlier page view could not deliver (oldest first). A receipt the browser
     * can never deliver (e.g. a refusal without CORS headers looks like a network error) is
     * given up after QUEUE_MAX_TRIES page views.
     */
    _flush() {
      const raw = loadJSON(key);
      if (!raw || !raw.length) return; // nothing waiting (the usual case): no write either
      const q = load(raw).filter((x) => (x.tries = (x.tries || 0) + 1) <= QUEUE_MAX_TRIES);
      saveJSON(key, q);
      for (const x of q) send(x.body);
    },
    /**
     * The visitor's own receipts, oldest first.
     * @param {string} consentId
     * @returns {Promise<any[]>}
     */
    _history(consentId) {
      return fetch(url + '/' + encodeURIComponent(consentId), { credentials: 'omit' })
        .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
        .then((d) => (d && d.receipts) || []);
    },
  };
}
