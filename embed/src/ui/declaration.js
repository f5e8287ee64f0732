// The cookie declaration: `[data-cmp-declaration]` on the site's policy page is filled with the
// published inventory, one table per purpose. Light DOM on purpose: the policy page styles it.
// The blocker finds the elements (at DOMContentLoaded, and later ones with its MutationObserver).
import { duration, h } from './dom.js';

/**
 * Fill one `[data-cmp-declaration]` element (again, if it was filled before).
 * @param {import('../config.js').Site} site
 * @param {Element} el
 */
export function fillDeclaration(site, el) {
  const t = site._text;
  /** @type {Object<string, string>} */
  const vname = {};
  for (const v of site._vendors) vname[v.key] = v.name;
  const cols = ['col_name', 'col_vendor', 'col_duration', 'col_party'];
  el.textContent = '';
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
        h('tbody', null, rows),
      ]),
      h('p', null, [site._pick(p.description, '')]),
    ]));
  }
}
