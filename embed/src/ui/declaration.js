// The cookie declaration: `[data-cmp-declaration]` on the site's policy page is filled with the
// visitor's current choice (when, what, their consent id), a button that reopens the choices,
// and the published inventory: per purpose a heading, its description and a table of its
// cookies (name, vendor, description, duration, party, transfer outside the EU/EEA).
// The state line and the button stay in the light DOM: they are the site's (its button styles,
// and the UI's click and focus handling, reach them). The tables are in a shadow root with a
// stylesheet of their own (declaration.css), so the page's rules cannot break them nor they the
// page; the page's font and colour are inherited. The blocker finds the elements (at
// DOMContentLoaded, and later ones with its MutationObserver); a change of choice rewrites the
// state line only, so focus stays put.
import { ATTR_OPEN, ATTR_STATE, KIND_COOKIE, KIND_SESSION, MATCH_PREFIX } from '../constants.js';
import { consentIdLine, grantedNames, h, safeUrl } from './dom.js';
import css from './declaration.css';

/**
 * @typedef {import('../config.js').Site} Site
 * @typedef {import('../config.js').Item} Item
 * @typedef {import('../consent.js').Consent} Consent
 */

/** @type {CSSStyleSheet | null} */
let sheet = null;

/**
 * Write the visitor's current choice into a declaration's state line (empty before any).
 * @param {Site} site
 * @param {Consent | null} c
 * @param {Element} line
 */
export function declarationState(site, c, line) {
  const t = site._text;
  line.textContent = '';
  /** @type {HTMLElement} */ (line).hidden = !c;
  if (!c) return;
  line.appendChild(h('span', null, [t('current_choice') + ' (' +
    new Date(c.updated_at * 1000).toLocaleString(site._lang) + '): ' +
    grantedNames(site, c.choices) + '. ']));
  line.appendChild(consentIdLine(site, c.consent_id, 'span'));
}

/**
 * "13 months", "2 years", "30 days" in the page's language (the browser's unit names, as
 * for dates); "Session"; "Until deleted" for storage that lives until then.
 * @param {Site} site
 * @param {Item} it
 * @returns {string}
 */
function lifetime(site, it) {
  const d = it.duration_days;
  if (d == null) {
    const kind = it.kind || KIND_COOKIE;
    return site._text(kind === KIND_COOKIE || kind === KIND_SESSION
      ? 'duration_session' : 'duration_persistent');
  }
  let n = d;
  let unit = 'day';
  if (d >= 60) {
    n = Math.round(d / 30.44);
    unit = 'month';
    if (n % 12 === 0) { n /= 12; unit = 'year'; }
  }
  try {
    return new Intl.NumberFormat(site._lang, /** @type {any} */ (
      { style: 'unit', unit, unitDisplay: 'long' })).format(n);
  } catch (_) { // no unit formatting (Safari < 14.1): the site's own word
    return d + ' ' + site._text('days');
  }
}

/**
 * Fill one `[data-cmp-declaration]` element (again, if it was filled before).
 * @param {Site} site
 * @param {Consent | null} c  the visitor's current choice
 * @param {Element} el
 */
export function fillDeclaration(site, c, el) {
  const t = site._text;
  const line = h('p', { [ATTR_STATE]: '' });
  declarationState(site, c, line);
  /** @type {Object<string, import('../config.js').Vendor>} */
  const vendors = {};
  for (const v of site._vendors) vendors[v.key] = v;
  /** @param {string} code  "US": "United States" in the page's language, if the browser can */
  const country = (code) => {
    try {
      return new (/** @type {any} */ (Intl)).DisplayNames([site._lang], { type: 'region' })
        .of(code) || code;
    } catch (_) {
      return code;
    }
  };
  const cols = ['name', 'vendor', 'description', 'duration', 'party', 'transfer']
    .map((k) => t('col_' + k));
  /** @param {Item} it */
  const cells = (it) => {
    const v = it.vendor ? vendors[it.vendor] : null;
    const url = v && safeUrl(v.privacy_policy_url);
    // The site's own item transfers nothing; a vendor without facts yet is "not known".
    const out = it.vendor ? v && v.transfers_outside_eea : false;
    const kind = it.kind && it.kind !== KIND_COOKIE ? it.kind : '';
    return [
      [h('code', null, [it.name + (it.match === MATCH_PREFIX ? '*' : '')]),
        (kind || it.domain) && h('span', { class: 'm' },
          [[kind, it.domain].filter(Boolean).join(' · ')])],
      v && [url ? h('a', { href: url }, [v.name]) : v.name,
        v.country && h('span', { class: 'm' }, [country(v.country)])],
      // Only in the page's language: a row never shows another language's words
      // (cmp_server/services/translations.py); staff are told what is missing.
      [(it.description || {})[site._lang]],
      [lifetime(site, it)],
      [it.party ? t(it.party + '_party') : ''],
      [out == null ? t('transfer_unknown') : out ? t('transfer_yes') +
        (v && v.transfer_basis ? ' (' + t('transfer_basis') + ': ' + v.transfer_basis + ')' : '')
        : t('transfer_no')],
    ].map((kids, i) => h('td', { role: 'cell', 'data-label': i ? cols[i] : null },
      /** @type {any[]} */ (kids || [])));
  };
  // The tables live in a shadow root on a <div> of ours, not on the site's element: that may be
  // one that cannot hold a shadow root (a <ul>, a <td>), and a refill simply replaces ours.
  const host = h('div');
  const root = host.attachShadow({ mode: 'open' });
  try { // adopted, so a strict CSP (no 'unsafe-inline' in style-src) does not block it
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
    }
    root.adoptedStyleSheets = [sheet];
  } catch (_) {
    root.appendChild(h('style', null, [css]));
  }
  root.appendChild(h('div', { class: 'd', lang: site._lang }, site._purposes.map((p) => {
    const items = site._items.filter((it) => it.purpose === p.key);
    const name = site._pick(p.name, p.key);
    return h('section', { 'data-purpose': p.key }, [
      h('h3', null, [name, p.required && ' ',
        p.required && h('span', { class: 'on' }, [t('always_on')])]),
      h('p', null, [site._pick(p.description, '')]),
      h('table', { role: 'table' }, [
        h('caption', null, [h('span', { class: 'vh' }, [name + ': ']),
          t('cookies_heading') + ' (' + items.length + ')']),
        h('thead', { role: 'rowgroup' }, [h('tr', { role: 'row' },
          cols.map((col) => h('th', { scope: 'col', role: 'columnheader' }, [col])))]),
        // A purpose with nothing in the inventory yet: a dash, not a table of headers alone.
        h('tbody', { role: 'rowgroup' }, (items.length ? items.map(cells)
          : [[h('td', { role: 'cell', colspan: cols.length }, ['—'])]])
          .map((row) => h('tr', { role: 'row' }, row))),
      ]),
    ]);
  })));
  el.textContent = '';
  el.appendChild(line);
  // The UI opens the choices from any [data-cmp-open] element.
  el.appendChild(h('p', null, [h('button', { type: 'button', [ATTR_OPEN]: '' },
    [t('settings_button')])]));
  el.appendChild(host);
}
