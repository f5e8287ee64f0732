// The second layer: a modal dialog with a switch per purpose, each purpose's vendors and
// cookies (from the published inventory), and the visitor's own receipts.
import { consentIdLine, duration, grantedNames, h, safeUrl } from './dom.js';

/**
 * @typedef {import('../config.js').Site} Site
 * @typedef {{_accept: () => void, _reject: () => void,
 *   _save: (choices: Object<string, boolean>) => void, _close: () => void,
 *   _receipts: (() => Promise<any[]>) | null, _consentId: string}} PrefsActions  `_receipts`:
 *   null before any choice; `_consentId`: the visitor's, to quote to the site (empty before)
 */

/**
 * @param {Site} site
 * @param {import('../config.js').Purpose} p
 */
function inventory(site, p) {
  const vendors = site._vendors.filter((v) => (v.purposes || []).indexOf(p.key) >= 0);
  const items = site._items.filter((it) => it.purpose === p.key);
  if (!vendors.length && !items.length) return null;
  /** @type {Object<string, string>} */
  const vname = {};
  for (const v of site._vendors) vname[v.key] = v.name;
  const t = site._text;
  return h('details', null, [
    h('summary', null, [t('vendors_heading') + ' (' + vendors.length + '), ' +
      t('cookies_heading') + ' (' + items.length + ')']),
    vendors.length > 0 && h('h3', null, [t('vendors_heading')]),
    vendors.length > 0 && h('ul', null, vendors.map((v) => {
      const url = safeUrl(v.privacy_policy_url);
      // Not known (null) is told as a possible transfer, like a known one without its basis.
      const facts = [v.country, v.transfers_outside_eea !== false
        ? t('transfer_notice') + (v.transfer_basis ? ': ' + v.transfer_basis : '') : '']
        .filter(Boolean).join(', ');
      return h('li', null, [
        url ? h('a', { href: url }, [v.name]) : v.name,
        facts && ' (' + facts + ')',
      ]);
    })),
    items.length > 0 && h('h3', null, [t('cookies_heading')]),
    items.length > 0 && h('ul', null, items.map((it) => h('li', null, [
      h('code', null, [it.name + (it.match === 'prefix' ? '*' : '')]),
      ' ' + [it.vendor && vname[it.vendor], duration(site, it),
        (it.description || {})[site._lang]].filter(Boolean).join(' · '), // as the declaration
    ]))),
  ]);
}

/**
 * @param {Site} site
 * @param {(p: string) => boolean} granted  current choices (nothing optional ticked at first)
 * @param {PrefsActions} act
 * @returns {{_el: HTMLElement, _dialog: HTMLElement}}
 */
export function buildPrefs(site, granted, act) {
  const t = site._text;
  /** @type {HTMLInputElement[]} */
  const boxes = [];
  const list = site._purposes.map((p, i) => {
    const id = 'cmp-p' + i;
    const box = /** @type {HTMLInputElement} */ (h('input', {
      type: 'checkbox', role: 'switch', id, 'aria-describedby': id + 'd',
      checked: p.required || granted(p.key), disabled: !!p.required, 'data-k': p.key,
    }));
    boxes.push(box);
    return h('div', { class: 'pu' }, [
      h('div', { class: 'w' }, [
        box,
        h('label', { for: id }, [site._pick(p.name, p.key)]),
        p.required && h('span', { class: 'on' }, [t('always_on')]),
      ]),
      h('p', { id: id + 'd' }, [site._pick(p.description, '')]),
      inventory(site, p),
    ]);
  });
  const out = h('div', { 'aria-live': 'polite' });
  const load = act._receipts;
  /** @param {Element | string} body */
  const show = (body) => {
    out.textContent = '';
    // The consent id from the cookie, also when the server cannot be reached: staff find a
    // visitor's receipts by it.
    out.appendChild(consentIdLine(site, act._consentId, 'p'));
    out.appendChild(h('div', null, [body]));
  };
  const showReceipts = () => {
    if (load) load().then((rs) => show(h('ul', null, rs.map((r) => h('li', null, [
      new Date(r.recorded_at).toLocaleString(site._lang) + ': ' + grantedNames(site, r.choices),
    ])))), () => show('—'));
  };
  const save = () => {
    /** @type {Object<string, boolean>} */
    const c = {};
    for (const b of boxes) c[/** @type {string} */ (b.getAttribute('data-k'))] = b.checked;
    act._save(c);
  };
  const dialog = h('div', { class: 'p', role: 'dialog', 'aria-modal': 'true',
    'aria-labelledby': 'cmp-pt', tabindex: '-1', lang: site._lang }, [
    h('h2', { id: 'cmp-pt' }, [t('preferences_title')]),
    h('button', { class: 'x', type: 'button', 'aria-label': t('close'), onclick: act._close },
      ['×']),
    h('div', null, list),
    h('div', { class: 'k' }, [
      h('button', { type: 'button', onclick: act._accept }, [t('accept_all')]),
      h('button', { type: 'button', onclick: act._reject }, [t('reject_all')]),
      h('button', { type: 'button', onclick: save }, [t('save')]),
    ]),
    load && h('button', { class: 'l', type: 'button', onclick: showReceipts },
      [t('receipts_link')]),
    out,
  ]);
  return { _el: h('div', null, [h('div', { class: 'ov', onclick: act._close }), dialog]),
    _dialog: dialog };
}
