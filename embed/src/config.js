// The published config (docs/contracts.md), read once, plus language and text look-ups.
import {
  DEFAULT_COOKIE, DEFAULT_LANGUAGE, DEFAULT_LIFETIME_DAYS, PURPOSE_VAR,
} from './constants.js';

/**
 * @typedef {{key: string, required?: boolean, name?: Object<string,string>,
 *   description?: Object<string,string>}} Purpose
 * @typedef {{key: string, name: string, country?: string, privacy_policy_url?: string,
 *   transfers_outside_eea?: boolean | null, transfer_basis?: string, purposes?: string[]}} Vendor
 * @typedef {{name: string, match?: string, kind?: string, domain?: string, vendor?: string,
 *   purpose: string, duration_days?: number | null, party?: string,
 *   description?: Object<string,string>}} Item
 * @typedef {{site_key: string, version: number, material_hash: string, published_at?: string,
 *   default_language?: string, languages?: string[], policy_url?: string,
 *   texts?: Object<string, Object<string,string>>, purposes: Purpose[], vendors?: Vendor[],
 *   cookies?: Item[], options?: any, preview?: boolean,
 *   blocking?: import('./rules.js').Blocking, appearance?: Appearance}} Config  `preview`:
 *   the admin's preview of a draft (never published): no receipt is sent and no cookie
 *   written
 * @typedef {{layout: string, colors: Object<string,string>, buttons: Object<string,string>,
 *   radius: number, font: string, logo?: {file: string, width: number, height: number} | null
 *   }} Appearance  absent: the default look (styles.css)
 *
 * @typedef {Object} Site  the config resolved for this page view
 * @property {Config} _raw
 * @property {string} _lang  language the banner is shown in
 * @property {string} _api  origin of the CMP server
 * @property {Purpose[]} _purposes
 * @property {Vendor[]} _vendors
 * @property {Item[]} _items
 * @property {string} _cookie
 * @property {?string} _domain
 * @property {number} _lifetime  seconds
 * @property {any} _options
 * @property {(key: string, purpose?: string) => string} _text
 * @property {(i18n: Object<string,string> | undefined, fallback: string) => string} _pick
 */

/**
 * @param {unknown} raw  the object the server inlined in place of the placeholder
 * @param {string} api
 * @returns {Site | null}
 */
export function resolveSite(raw, api) {
  if (!raw || typeof raw !== 'object') return null;
  const cfg = /** @type {Config} */ (raw);
  if (!Array.isArray(cfg.purposes) || !cfg.site_key) return null;
  const options = cfg.options || {};
  const texts = cfg.texts || {};
  const def = cfg.default_language || DEFAULT_LANGUAGE;
  const lang = chooseLanguage(cfg.languages || Object.keys(texts), def);
  // The server resolves every text for every language at publish time: the texts a
  // receipt's hash covers are exactly what is rendered, so nothing is filled in here.
  const order = [lang, def];

  /** @type {Site['_pick']} */
  const pick = (i18n, fallback) => {
    if (i18n) for (const l of order) if (i18n[l]) return i18n[l];
    return fallback;
  };
  return {
    _raw: cfg,
    _lang: lang,
    _api: api,
    _purposes: cfg.purposes,
    _vendors: cfg.vendors || [],
    _items: cfg.cookies || [],
    _cookie: options.cookie_name || DEFAULT_COOKIE,
    _domain: options.cookie_domain || null,
    _lifetime: (options.consent_lifetime_days || DEFAULT_LIFETIME_DAYS) * 86400,
    _options: options,
    _pick: pick,
    _text(key, purpose) {
      let s = '';
      for (const l of order) if (texts[l] && texts[l][key]) { s = texts[l][key]; break; }
      if (purpose != null) s = s.split(PURPOSE_VAR).join(purpose);
      return s;
    },
  };
}

/**
 * `<html lang>`, then the browser's languages, then the site default.
 * @param {string[]} available
 * @param {string} fallback
 * @returns {string}
 */
export function chooseLanguage(available, fallback) {
  /** @param {string | undefined} w */
  const match = (w) => {
    const base = (w || '').toLowerCase().split('-')[0];
    return base && available.indexOf(base) >= 0 ? base : '';
  };
  // navigator.languages is slow on first read: only look when <html lang> does not settle it.
  const own = match(document.documentElement.lang);
  if (own) return own;
  for (const w of navigator.languages || [navigator.language]) if (match(w)) return match(w);
  return fallback;
}

/**
 * Origin of the server that served this script (contracts.md: "finds the API base from
 * document.currentScript.src"). Must be called while the script runs for the first time.
 * @returns {string}
 */
export function apiBase() {
  const s = /** @type {HTMLScriptElement | null} */ (document.currentScript);
  const m = /^https?:\/\/[^/?#]+/i.exec((s && s.src) || '');
  return m ? m[0] : location.origin;
}
