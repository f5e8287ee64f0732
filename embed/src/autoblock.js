// Automatic blocking (docs/contracts.md, `blocking`): resources of unmodified tags whose URL a
// rule of the published config names wait until the rule's purposes are granted. The rules
// are data, derived by the server at publish time; this module only enforces them and keeps
// the ledger `window.cmp.blocked()` reads: what was held, released, dropped, or (report-only
// mode, which blocks nothing) reported. Without rules it installs no hook at all.
//
// The hooks: autoblock-dom.js (scripts, iframes, images), autoblock-net.js (beacons, fetch,
// XHR). Held scripts are released one after the other in the order they were held (document
// order for parser-inserted ones); each waits for the one before to load. No synthetic
// `DOMContentLoaded` or `load` is ever dispatched: a released script that waits for an event
// that has passed does not get it, as with any script added late.
import { guardElements } from './autoblock-dom.js';
import { guardRequests } from './autoblock-net.js';
import {
  MODE_REPORT, S_DROPPED, S_HELD, S_RELEASED, S_REPORTED, T_SCRIPT,
} from './constants.js';
import { matcher } from './rules.js';
import { safe } from './util.js';

/**
 * What `window.cmp.blocked()` lists: plain data (the admin preview and the scanner read it).
 * @typedef {{url: string, type: string, purposes: string[], rule: {host: string, path: string},
 *   state: string}} Entry
 */

/**
 * @param {import('./rules.js').Blocking | undefined} blocking
 * @param {(purpose: string) => boolean} granted  required purposes count as granted
 * @param {(frame: HTMLIFrameElement) => void} frame  hands a held iframe to the blocker
 * @param {string} own  the consent server's origin: never held (the receipts go there)
 */
export function createAutoblock(blocking, granted, frame, own) {
  /** @type {Entry[]} */
  const log = [];
  /** @type {{_e: Entry, _go: () => any}[]} */
  let held = [];
  /** @type {Object<string, boolean>} purposes of matched scripts that have run */
  const ran = {};
  /** @type {Promise<any>} */
  let chain = Promise.resolve();
  /** @param {string[]} ps */
  const allowed = (ps) => ps.every(granted);
  /** @param {string[]} ps */
  const mark = (ps) => { for (const p of ps) ran[p] = true; };

  const api = {
    /** @returns {Entry[]} */
    _list: () => log,
    /** @param {string} p  a matched script of this purpose has run on this page */
    _ran: (p) => !!ran[p],
    /** Consent changed: release what is now allowed, scripts in order. */
    _apply() {
      const keep = [];
      for (const h of held) {
        const e = h._e;
        if (!allowed(e.purposes)) {
          keep.push(h);
          continue;
        }
        e.state = S_RELEASED;
        if (e.type === T_SCRIPT) {
          mark(e.purposes);
          chain = chain.then(() => safe(h._go));
        } else safe(h._go);
      }
      held = keep;
    },
  };
  const rules = (blocking && blocking.rules) || [];
  if (!rules.length) return api;
  const report = /** @type {import('./rules.js').Blocking} */ (blocking).mode === MODE_REPORT;
  const match = matcher(rules, own);

  /** @type {import('./autoblock-dom.js').Hold} */
  const hold = (url, type, release) => {
    const base = document.baseURI;
    const r = match(url, base);
    if (!r) return null;
    if (allowed(r.purposes)) {
      if (type === T_SCRIPT) mark(r.purposes);
      return null;
    }
    /** @type {Entry} */
    const e = {
      url: new URL(url, base).href, type, purposes: r.purposes.slice(),
      rule: { host: r.host, path: r.path },
      state: report ? S_REPORTED : release ? S_HELD : S_DROPPED,
    };
    log.push(e);
    if (report) {
      console.warn('[cmp] would block', type, e.url, 'until', e.purposes.join(' '));
      return null;
    }
    if (release) held.push({ _e: e, _go: release });
    return r;
  };
  // A browser without what a hook needs: the hooks installed so far stay, the embed goes on.
  safe(() => {
    guardElements(hold, frame);
    guardRequests(hold);
  });
  return api;
}
