// Blocked scripts and iframes on the host page:
//   <script type="text/plain" data-cmp-category="statistics" [src]>   (inline or src)
//   <iframe data-cmp-src="..." data-cmp-category="marketing">
// They are inert by markup; this module runs them once their purposes are granted, one at a
// time in document order (a src script finishes loading before the next one starts), and
// watches for such elements added later. The same (single) MutationObserver hands
// `[data-cmp-declaration]` elements, also ones added later, to the declaration filler.
import {
  ATTR_CATEGORY, ATTR_PLACEHOLDER, ATTR_SRC, ATTR_TYPE, JS_TYPE, SEL_DECLARATION, SEL_IFRAME,
  SEL_SCRIPT,
} from './constants.js';
import { onReady, purposesOf, safe } from './util.js';

/**
 * @param {(purpose: string) => boolean} granted
 * @param {(iframe: HTMLIFrameElement, purposes: string[]) => Element | null} placeholder
 *   makes the element shown in place of a blocked iframe (the UI module provides it)
 * @param {(el: Element) => void} declare  fills a `[data-cmp-declaration]` element
 */
export function createBlocker(granted, placeholder, declare) {
  /** @type {Promise<void>} scripts run one after another */
  let chain = Promise.resolve();
  /** @type {Map<Element, Element>} blocked iframe -> its placeholder */
  const holders = new Map();
  let started = false;
  /** @type {Object<string, boolean>} purposes of the blocked scripts that have run */
  const ran = {};

  /** @param {Element} el */
  const allowed = (el) => purposesOf(el, ATTR_CATEGORY).every(granted);

  /** @param {HTMLScriptElement} old */
  const runScript = (old) => new Promise((resolve) => {
    if (!old.parentNode || old.type !== 'text/plain') return resolve(undefined);
    const s = document.createElement('script');
    for (const a of Array.prototype.slice.call(old.attributes)) {
      if (a.name !== 'type') s.setAttribute(a.name, a.value);
    }
    s.type = old.getAttribute(ATTR_TYPE) || JS_TYPE;
    // The nonce is hidden from getAttribute once parsed: copy the property.
    if (old.nonce) s.nonce = old.nonce;
    if (s.src) {
      s.async = false;
      s.onload = s.onerror = () => resolve(undefined);
    } else {
      s.text = old.text;
    }
    for (const p of purposesOf(old, ATTR_CATEGORY)) ran[p] = true;
    old.parentNode.replaceChild(s, old);
    if (!s.src) resolve(undefined);
  });

  /** @param {HTMLIFrameElement} f */
  const handleIframe = (f) => {
    if (allowed(f)) {
      const ph = holders.get(f);
      if (ph) { ph.remove(); holders.delete(f); }
      f.hidden = false;
      const src = f.getAttribute(ATTR_SRC);
      if (src && f.getAttribute('src') !== src) f.src = src;
    } else if (!holders.has(f)) {
      if (f.getAttribute('src')) f.removeAttribute('src');
      // The placeholder hides the frame once it stands in its place.
      const ph = safe(() => placeholder(f, purposesOf(f, ATTR_CATEGORY)));
      if (ph) holders.set(f, ph);
    }
  };

  /** @param {ParentNode} root  @param {string} sel */
  const all = (root, sel) => Array.prototype.slice.call(root.querySelectorAll(sel));

  /**
   * @param {ParentNode} root
   * @param {boolean} [fresh]  new to us: also fill its declarations
   */
  const scan = (root, fresh) => {
    if (fresh) for (const d of all(root, SEL_DECLARATION)) safe(() => declare(d));
    for (const f of all(root, SEL_IFRAME)) handleIframe(f);
    for (const s of all(root, SEL_SCRIPT)) {
      if (allowed(s)) chain = chain.then(() => runScript(s));
    }
  };

  /** @param {Node} n */
  const scanNode = (n) => {
    if (n.nodeType !== 1) return;
    const el = /** @type {Element} */ (n);
    if (el.matches(SEL_DECLARATION)) safe(() => declare(el));
    else if (el.matches(SEL_IFRAME)) handleIframe(/** @type {HTMLIFrameElement} */ (el));
    else if (el.matches(SEL_SCRIPT)) {
      if (allowed(el)) chain = chain.then(() => runScript(/** @type {HTMLScriptElement} */ (el)));
    } else if (el.firstElementChild && !el.hasAttribute(ATTR_PLACEHOLDER)) scan(el, true);
  };

  return {
    /**
     * Start once the document is parsed: an inline script seen mid-parse could still be
     * missing part of its text. Later additions are handled by a MutationObserver.
     */
    _start() {
      onReady(() => {
        started = true;
        scan(document, true);
        new MutationObserver((records) => safe(() => {
          for (const r of records) {
            for (const n of Array.prototype.slice.call(r.addedNodes)) scanNode(n);
          }
        })).observe(document.documentElement, { childList: true, subtree: true });
      });
    },
    /** Consent changed: run what is now allowed; unload iframes whose purpose was withdrawn. */
    _apply() {
      if (started) scan(document);
    },
    /** @param {HTMLIFrameElement} f  an iframe held later by automatic blocking */
    _frame(f) {
      if (started) handleIframe(f);
    },
    /** @param {string} purpose  a blocked script of this purpose has run on this page */
    _ran: (purpose) => !!ran[purpose],
  };
}
