// Places the layers on the page and moves focus between them. Subscribes to consent changes
// like any other listener; the consent module knows nothing about it.
import { HOST_TAG, LAYER_FIRST, LAYER_SECOND, SEL_OPEN } from '../constants.js';
import { onReady, safe } from '../util.js';
import { buildBanner, buildFloating, buildPlaceholder } from './banner.js';
import { h } from './dom.js';
import { buildPrefs } from './prefs.js';
import { shadow } from './styles.js';

const FOCUSABLE = 'button,a[href],summary,input:not([disabled])';

/**
 * @param {import('../config.js').Site} site
 * @param {ReturnType<typeof import('../consent.js').createConsent>} consent
 * @param {ReturnType<typeof import('../receipts.js').createSender>} sender
 */
export function createUI(site, consent, sender) {
  /** @type {ShadowRoot | null} */
  let root = null;
  /** @type {HTMLElement} */
  let wrap;
  /** @type {HTMLElement | null} */
  let banner = null;
  /** @type {HTMLElement | null} */
  let prefs = null;
  /** @type {HTMLElement | null} */
  let floating = null;
  /** @type {Element | null} where focus was before the banner or dialog took it */
  let opener = null;

  const mount = () => {
    if (root) return;
    const host = h(HOST_TAG);
    const a = site._raw.appearance;
    root = shadow(host);
    wrap = h('div', { lang: site._lang, class: a && a.layout });
    // The site's look: colours and radius as the custom properties styles.css reads (set by
    // the CSSOM, which a strict CSP allows), the site's own font when asked.
    if (a) {
      const st = host.style;
      const c = a.colors;
      for (const k in c) st.setProperty('--' + k, c[k]);
      st.setProperty('--r', a.radius + 'px');
      if (a.font == 'inherit') st.fontFamily = 'inherit';
    }
    root.appendChild(wrap);
    // Before <body> exists (`window.cmp.open()` or a choice from a script in <head>) hang it
    // on <html>; on load the layers are only shown once the document is parsed.
    (document.body || document.documentElement).appendChild(host);
  };

  /** @returns {Element | null} */
  const active = () => (root && root.activeElement) || document.activeElement;

  /** @param {Element | null} el */
  const focus = (el) => {
    if (el && /** @type {HTMLElement} */ (el).focus) {
      /** @type {HTMLElement} */ (el).focus({ preventScroll: true });
    }
  };

  const remove = (/** @type {HTMLElement | null} */ el) => { if (el) el.remove(); return null; };

  const showFloating = () => {
    if (floating || prefs || banner || consent._needsChoice() ||
      site._options.floating_button === false) return;
    mount();
    floating = buildFloating(site, open);
    wrap.appendChild(floating);
  };

  /** @param {boolean} [now]  back from the second layer: move focus at once */
  const showBanner = (now) => {
    if (banner || prefs) return;
    mount();
    floating = remove(floating);
    banner = buildBanner(site, consent._gpc.length > 0, {
      _accept: () => consent._acceptAll(LAYER_FIRST),
      _reject: () => consent._rejectAll(LAYER_FIRST),
      _customize: open,
    });
    wrap.appendChild(banner);
    if (!opener || opener === document.body) opener = document.activeElement;
    const shown = banner;
    // When it first appears, focus after the frame that shows it: focusing checks
    // focusability, which forces a style and layout pass of the new banner, in this task. Back
    // from the second layer (a keystroke or click) the visitor's next Tab must already land in
    // it.
    if (now) focus(shown);
    else {
      requestAnimationFrame(() => setTimeout(() => safe(() => {
        if (banner === shown && !prefs) focus(shown);
      })));
    }
  };

  /** Leave the layers; give focus back to where it was before them. */
  const done = () => {
    banner = remove(banner);
    prefs = remove(prefs);
    const back = opener;
    opener = null;
    if (consent._needsChoice()) showBanner(true);
    else {
      showFloating();
      if (back && back !== document.body && back.isConnected) focus(back);
      // Opened from the floating button, which was rebuilt meanwhile: its new self.
      else if (back && floating) focus(floating.firstElementChild);
      else if (root && root.activeElement) /** @type {HTMLElement} */ (root.activeElement).blur();
    }
  };

  function open() {
    if (prefs) return;
    mount();
    const from = active();
    if (!banner && from && from !== document.body) opener = from;
    banner = remove(banner);
    floating = remove(floating);
    const c = consent._get();
    const built = buildPrefs(site, consent._granted, {
      _accept: () => consent._acceptAll(LAYER_SECOND),
      _reject: () => consent._rejectAll(LAYER_SECOND),
      _save: (choices) => consent._custom(choices, LAYER_SECOND),
      _close: done,
      _receipts: c ? () => sender._history(c.consent_id) : null,
      _consentId: c ? c.consent_id : '',
    });
    const dialog = built._dialog;
    dialog.addEventListener('keydown', (e) => safe(() => {
      if (e.key === 'Escape') { e.preventDefault(); done(); return; }
      if (e.key !== 'Tab') return;
      // Focus trap: Tab from the last element goes to the first and back.
      const all = Array.prototype.slice.call(dialog.querySelectorAll(FOCUSABLE))
        .filter((/** @type {HTMLElement} */ el) => el.getClientRects().length > 0);
      const first = all[0];
      const last = all[all.length - 1];
      const now = active();
      if (e.shiftKey && (now === first || now === dialog)) { e.preventDefault(); focus(last); }
      else if (!e.shiftKey && now === last) { e.preventDefault(); focus(first); }
    }));
    prefs = built._el;
    wrap.appendChild(prefs);
    focus(dialog);
  }

  // Any [data-cmp-open] element on the page, also ones added later, reopens the choices.
  document.addEventListener('click', (e) => safe(() => {
    const t = /** @type {Element} */ (e.target);
    if (t && t.closest && t.closest(SEL_OPEN)) {
      e.preventDefault();
      open();
    }
  }), true);

  return {
    _open: open,
    /**
     * Show the first layer (or the floating button) in a task of its own, after the page's
     * first frame: the tag's synchronous run stays small, and the banner's DOM, style and
     * layout stay out of both that run and the page's own (often long) first rendering task.
     * A rAF callback runs at the start of a frame; the timeout it queues runs after that
     * frame is rendered.
     */
    _start() {
      onReady(() => requestAnimationFrame(() => setTimeout(() => safe(() => {
        if (consent._needsChoice()) showBanner();
        else showFloating();
      }))));
    },
    /** Layer a choice made now is attributed to (also for `window.cmp` calls). */
    _layer: () => (prefs ? LAYER_SECOND : LAYER_FIRST),
    /** A choice was saved (from any source): close the layers. */
    _changed: done,
    /**
     * @param {HTMLIFrameElement} frame
     * @param {string[]} purposes
     */
    _placeholder: (frame, purposes) => buildPlaceholder(site, frame, purposes,
      (choices, layer) => consent._custom(choices, layer)),
  };
}
