// The cookie declaration: `[data-cmp-declaration]` on the site's policy page is filled with the
// visitor's current choice (when, what, their consent id), a button that reopens the choices,
// and the published inventory, one table per purpose. Light DOM on purpose: the policy page
// styles it. The blocker finds the elements (at DOMContentLoaded, and later ones with its
// MutationObserver); a change of choice rewrites the state line only, so focus stays put.
import { ATTR_OPEN, ATTR_STATE } from '../constants.js';
import { consentIdLine, duration, grantedNames, h } from './dom.js';

/**
 * @typedef {import('../config.js').Site} Site
 * @typedef {import('../consent.js').Consent} Consent
 */

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
 * Fill one `[data-cmp-declaration]` element (again, if it was filled before).
 * @param {Site} site
 * @param {Consent | null} c  the visitor's current choice
 * @param {Element} el
 */
export function fillDeclaration(site, c, el) {
  const t = site._text;
  const line = h('p', { [ATTR_STATE]: '' });
  declarationState(site, c, line);
  /** @type {Object<string, string>} */
  const vname = {};
  for (const v of site._vendors) vname[v.key] = v.name;
  const cols = ['col_name', 'col_vendor', 'col_duration', 'col_party'];
  el.textContent = '';
  el.appendChild(line);
  // The UI opens the choices from any [data-cmp-open] element.
  el.appendChild(h('p', null, [h('button', { type: 'button', [ATTR_OPEN]: '' },
    [t('settings_button')])]));
  for (const p of site._purposes) {
    const items = site._items.filter((it) => it.purpose === p.key);
    const rows = items.map((it) => h('tr', null, [
      h('td', null, [h('code', null, [it.name + (it.match === 'prefix' ? '*' : '')])]),
      h('td', null, [(it.vendor && vname[it.vendor]) || '']),
      h('td', null, [duration(site, it)]),
      h('td', null, [it.party ? t(it.party + '_party') : '']),
    ]));
    el.appendChild(h('section', { 'data-purpose': p.key }, [
      h('table', null, [
        h('caption', null, [site._pick(p.name, p.key)]),
        h('thead', null, [h('tr', null, cols.map((c) => h('th', { scope: 'col' }, [t(c)])))]),
        // A purpose with nothing in the inventory yet: a dash, not a table of headers alone.
        h('tbody', null, rows.length ? rows
          : [h('tr', null, [h('td', { colspan: cols.length }, ['—'])])]),
      ]),
      h('p', null, [site._pick(p.description, '')]),
    ]));
  }
}
