// A tiny element builder. Texts always go in as text nodes, never as HTML.
import { KIND_COOKIE, KIND_SESSION } from '../constants.js';
import { safe } from '../util.js';

/**
 * @param {string} tag
 * @param {Object<string, any> | null} [props]  attributes; `on*` keys add listeners
 * @param {(Node | string | null | undefined | false)[]} [kids]
 * @returns {HTMLElement}
 */
export function h(tag, props, kids) {
  const el = document.createElement(tag);
  if (props) {
    for (const k in props) {
      const v = props[k];
      if (v == null || v === false) continue;
      if (k.slice(0, 2) === 'on') {
        el.addEventListener(k.slice(2), (e) => safe(() => v(e)));
      } else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  if (kids) {
    for (const c of kids) {
      if (c) el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
  }
  return el;
}

/**
 * Only http(s) and relative links from the config become hrefs (no `javascript:` and the
 * like). A pattern, not `new URL()`: this runs before first paint and URL parsing is slow.
 * @param {string | null | undefined} url
 * @returns {string | null}
 */
export function safeUrl(url) {
  if (!url) return null;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url.replace(/[\s\u0000-\u001f]/g, ''));
  return !scheme || /^https?$/i.test(scheme[1]) ? url : null;
}

/**
 * "400 days"; "Session" for a cookie or sessionStorage without a duration; "" for other
 * storage without one (localStorage lives until deleted).
 * @param {import('../config.js').Site} site
 * @param {import('../config.js').Item} it
 * @returns {string}
 */
export function duration(site, it) {
  const d = it.duration_days;
  if (d != null) return d + ' ' + site._text('days');
  const kind = it.kind || KIND_COOKIE;
  return kind === KIND_COOKIE || kind === KIND_SESSION ? site._text('duration_session') : '';
}

/**
 * The granted purposes' names, in display order: "Necessary, Statistics".
 * @param {import('../config.js').Site} site
 * @param {Object<string, boolean> | undefined} choices
 * @returns {string}
 */
export function grantedNames(site, choices) {
  return site._purposes.filter((p) => choices && choices[p.key])
    .map((p) => site._pick(p.name, p.key)).join(', ');
}

/**
 * "Your consent ID: <code>…</code>", the id privacy staff find a visitor's receipts by.
 * @param {import('../config.js').Site} site
 * @param {string} id
 * @param {string} tag  the element holding the line
 */
export function consentIdLine(site, id, tag) {
  return h(tag, null, [site._text('consent_id') + ': ', h('code', null, [id])]);
}
