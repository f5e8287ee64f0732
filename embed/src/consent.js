// Consent state with no DOM (Klaro's consent-manager idea): what the visitor chose, whether
// the choice is still valid, and who to tell when it changes. Storage is passed in.
import {
  LAYER_FIRST, M_ACCEPT, M_CUSTOM, M_GPC, M_REJECT, M_WITHDRAW,
} from './constants.js';
import { nowSeconds, safe, uuid } from './util.js';

/**
 * What is stored and what `window.cmp.getConsent()` returns. Plain keys: this is persisted.
 * @typedef {{consent_id: string, version: number, material_hash: string,
 *   choices: Object<string, boolean>, method: string, created_at: number,
 *   updated_at: number}} Consent
 *
 * @typedef {{_method: string, _layer: string, _previous: Consent | null,
 *   _denied: string[]}} Change  `_denied`: every purpose refused now
 *
 * @typedef {(consent: Consent, change: Change) => void} Listener
 */

/**
 * @param {{_version: number, _hash: string, _purposes: {key: string, required?: boolean}[],
 *   _lifetime: number, _gpc: string[]}} site  `_gpc`: purposes Global Privacy Control
 *   turns off ([] when the browser sends no signal or the site does not honour it)
 * @param {import('./storage.js').Store} store
 */
export function createConsent(site, store) {
  const keys = site._purposes.map((p) => p.key);
  const required = site._purposes.filter((p) => p.required).map((p) => p.key);
  /** @type {Listener[]} */
  const listeners = [];

  /** @type {Consent | null} */
  const stored = safe(store._read) || null;
  /** @type {Consent | null} a choice that still applies: same material hash, not expired */
  let current = stored && stored.choices && stored.material_hash === site._hash &&
    stored.updated_at + site._lifetime > nowSeconds() ? stored : null;

  /** @param {string} p */
  const isRequired = (p) => required.indexOf(p) >= 0;

  const api = {
    /** @returns {Consent | null} */
    _get: () => current,
    /** True until the visitor has made a choice that still applies. */
    _needsChoice: () => !current,
    /** @param {string} p */
    _granted: (p) => isRequired(p) || !!(current && current.choices[p]),
    /** @returns {Object<string, boolean>} every purpose, required ones granted */
    _choices() {
      /** @type {Object<string, boolean>} */
      const out = {};
      for (const k of keys) out[k] = api._granted(k);
      return out;
    },
    _gpc: site._gpc,
    /** A consent cookie was there at page load (also an outdated one). */
    _returning: !!stored,
    /** @param {Listener} fn */
    _subscribe(fn) {
      listeners.push(fn);
      return () => {
        const i = listeners.indexOf(fn);
        if (i >= 0) listeners.splice(i, 1);
      };
    },
    /**
     * Record a choice. Purposes missing from `wanted` keep their current value (false when
     * there is none); required purposes are always granted; unknown keys are ignored.
     * The method becomes `withdraw` when a purpose granted before is now refused.
     * @param {Object<string, boolean>} wanted
     * @param {string} method
     * @param {string} [layer]
     * @returns {Consent}
     */
    _choose(wanted, method, layer) {
      const previous = current;
      /** @type {Object<string, boolean>} */
      const choices = {};
      for (const k of keys) {
        choices[k] = isRequired(k) || (k in wanted ? !!wanted[k] : api._granted(k));
      }
      const withdrawn = previous
        ? keys.filter((k) => previous.choices[k] && !choices[k]) : [];
      if (withdrawn.length) method = M_WITHDRAW;
      const t = nowSeconds();
      current = {
        // Same browser, same pseudonymous id, across re-consents (links the receipts).
        consent_id: (stored && stored.consent_id) || (previous && previous.consent_id) || uuid(),
        version: site._version,
        material_hash: site._hash,
        choices,
        method,
        created_at: (previous && previous.created_at) || t,
        updated_at: t,
      };
      safe(() => store._write(current));
      const change = { _method: method, _layer: layer || LAYER_FIRST, _previous: previous,
        _denied: keys.filter((k) => !choices[k]) };
      for (const fn of listeners.slice()) safe(() => fn(/** @type {Consent} */ (current), change));
      return current;
    },
    /** @param {string} [layer] */
    _acceptAll(layer) {
      /** @type {Object<string, boolean>} */
      const w = {};
      for (const k of keys) w[k] = site._gpc.indexOf(k) < 0;
      return api._choose(w, site._gpc.length ? M_GPC : M_ACCEPT, layer);
    },
    /** @param {string} [layer] */
    _rejectAll(layer) {
      /** @type {Object<string, boolean>} */
      const w = {};
      for (const k of keys) w[k] = false;
      return api._choose(w, M_REJECT, layer);
    },
    /**
     * @param {Object<string, boolean>} wanted
     * @param {string} [layer]
     */
    _custom: (wanted, layer) => api._choose(wanted, M_CUSTOM, layer),
  };
  return api;
}
