// The first layer, the floating reopen button and the placeholder for blocked iframes.
// Builders only: they return elements with their handlers attached; ui.js places them.
import { LAYER_FIRST } from '../constants.js';
import { h, safeUrl } from './dom.js';
import { shadow } from './styles.js';
import { safe } from '../util.js';

/**
 * @typedef {import('../config.js').Site} Site
 * @typedef {{_accept: () => void, _reject: () => void, _customize: () => void}} BannerActions
 */

/**
 * Accept all, Reject all and Customize: same element, same style, same size. Reject all is
 * the second Tab stop after focus moves into the region.
 * @param {Site} site
 * @param {boolean} gpc  show the Global Privacy Control notice
 * @param {BannerActions} act
 */
export function buildBanner(site, gpc, act) {
  const t = site._text;
  const policy = safeUrl(site._raw.policy_url);
  const a = site._raw.appearance || /** @type {any} */ ({});
  const logo = a.logo;
  // Each button's class is its colours' name: `primary` or `secondary` (styles.css).
  const b = a.buttons || {};
  return h('div', { class: 'b', role: 'region', 'aria-labelledby': 'cmp-t',
    'aria-describedby': 'cmp-d', tabindex: '-1' }, [
    h('h2', { id: 'cmp-t' }, [logo && h('img', { src: site._api + '/v1/logos/' + logo.file,
      alt: '' }), t('title')]),
    h('p', { id: 'cmp-d' }, [t('description')]),
    gpc && h('p', null, [t('gpc_notice')]),
    h('div', { class: 'k' }, [
      h('button', { type: 'button', class: b.accept_all, onclick: act._accept },
        [t('accept_all')]),
      h('button', { type: 'button', class: b.reject_all, onclick: act._reject },
        [t('reject_all')]),
      h('button', { type: 'button', class: b.customize, onclick: act._customize,
        'aria-haspopup': 'dialog' }, [t('customize')]),
    ]),
    policy && h('a', { href: policy }, [t('policy_link')]),
  ]);
}

/**
 * @param {Site} site
 * @param {() => void} open
 */
export function buildFloating(site, open) {
  const label = site._text('settings_button');
  const btn = h('button', { class: 'fl', type: 'button', 'aria-label': label, title: label,
    'aria-haspopup': 'dialog', onclick: open });
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  // A cookie: a disc with a bite out of it and three crumbs.
  path.setAttribute('d', 'M12 2a10 10 0 1 0 10 10 4 4 0 0 1-5-5 4 4 0 0 1-5-5zm-4 7a1.5 1.5 ' +
    '0 1 1 0 3 1.5 1.5 0 0 1 0-3zm8 5a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm-6 2a1.5 1.5 0 1 1 ' +
    '0 3 1.5 1.5 0 0 1 0-3z');
  svg.appendChild(path);
  btn.appendChild(svg);
  return h('aside', { 'aria-label': label }, [btn]);
}

/**
 * A same-size box in place of a blocked iframe, with a button granting its purposes.
 * @param {Site} site
 * @param {HTMLIFrameElement} frame
 * @param {string[]} purposes
 * @param {(choices: Object<string, boolean>, layer: string) => void} grant
 * @returns {HTMLElement}
 */
export function buildPlaceholder(site, frame, purposes, grant) {
  const names = purposes.map((k) => {
    const p = site._purposes.filter((x) => x.key === k)[0];
    return site._pick(p && p.name, k);
  }).join(', ');
  const host = h('div', { 'data-cmp-placeholder': '' });
  const st = host.style;
  // Takes the frame's place once the frame's laid-out size is known: read in a ResizeObserver
  // callback, which runs after the browser's own layout and before paint, instead of forcing
  // a layout of the page now (this runs at DOMContentLoaded, before the first frame). A frame
  // that is not rendered (display: none) is replaced once it is.
  st.display = 'none';
  st.maxWidth = '100%';
  const place = () => {
    if (!host.isConnected) return; // allowed meanwhile
    const r = frame.getBoundingClientRect();
    st.width = (r.width || frame.width || 300) + 'px';
    st.height = (r.height || frame.height || 150) + 'px';
    st.display = 'block';
    frame.hidden = true;
  };
  const RO = /** @type {any} */ (window).ResizeObserver;
  if (RO) {
    const ro = new RO((/** @type {any[]} */ e) => safe(() => {
      if (!e[0].contentRect.width && host.isConnected) return;
      ro.disconnect();
      place();
    }));
    ro.observe(frame);
  }
  const root = shadow(host);
  /** @type {Object<string, boolean>} */
  const choices = {};
  for (const k of purposes) choices[k] = true;
  root.appendChild(h('div', { class: 'ph', lang: site._lang }, [
    h('p', null, [site._text('placeholder', names)]),
    h('div', { class: 'k' }, [
      h('button', { type: 'button', onclick: () => grant(choices, LAYER_FIRST) },
        [site._text('placeholder_button', names)]),
    ]),
  ]));
  frame.parentNode && frame.parentNode.insertBefore(host, frame);
  if (!RO) place();
  return host;
}
