// Automatic blocking of elements: `<script src>`, `<iframe src>` and `<img src>` whose URL a
// rule holds, in unmodified markup and created by scripts alike.
//
// - Parser-inserted: a MutationObserver started in the tag's own run (yett's observer.js). The
//   parser runs a microtask checkpoint before it runs a script, so the observer sees each
//   script first and gives it a type that is not JavaScript; the browser then leaves it alone.
// - Script-created: the insertion methods and the `src` setters are patched (yett's
//   monkey.js), so a script or iframe is decided before it is connected (when the browser
//   would fetch it) and an image before its `src` is set (a `new Image()` fetches at once).
//
// A held script is released by giving its type back and moving it in place: connected afresh,
// the browser runs that same element (its nonce, attributes and the handlers its loader set
// stay with it). A held iframe is handed to the markup blocker as `data-cmp-src` +
// `data-cmp-category`, so it gets the same placeholder. Elements marked by hand
// (`data-cmp-category`) are left to their markup.
import {
  ATTR_CATEGORY, ATTR_SRC, BLOCKED_TYPE, SEL_AUTO, T_IFRAME, T_IMG, T_SCRIPT,
} from './constants.js';
import { patchMethod, patchSetter } from './patch.js';
import { safe } from './util.js';

/**
 * Asks the ledger (autoblock.js): the rule that holds `url` now, or null to let it through.
 * `release` is called once its purposes are granted (null: dropped instead of held).
 * @typedef {(url: string, type: string, release: (() => any) | null) => ({purposes: string[]} | null)} Hold
 */

/**
 * @param {Hold} hold
 * @param {(frame: HTMLIFrameElement) => void} frame  a connected iframe just held
 */
export function guardElements(hold, frame) {
  /** @type {WeakSet<Element>} decided already (held, released or let through) */
  const seen = new WeakSet();
  const ep = Element.prototype;
  const setAttr = ep.setAttribute;
  const insertBefore = Node.prototype.insertBefore;
  const imgSrc = /** @type {PropertyDescriptor} */ (
    Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, 'src')).set;

  /** @param {HTMLScriptElement} s  @param {string | null} type  @returns {Promise<any>} */
  const run = (s, type) => new Promise((done) => {
    if (type == null) s.removeAttribute('type');
    else setAttr.call(s, 'type', type);
    const p = s.parentNode;
    if (!p) return done(0);
    s.addEventListener('load', done);
    s.addEventListener('error', done);
    insertBefore.call(p, s, s.nextSibling);
  });

  /**
   * @param {Element} el
   * @param {string} url
   * @returns {boolean} held (the caller must not let the browser have `url`)
   */
  const decide = (el, url) => {
    seen.add(el);
    if (el.hasAttribute(ATTR_CATEGORY)) return false;
    const tag = el.tagName;
    if (tag === 'SCRIPT') {
      const type = el.getAttribute('type');
      if (!hold(url, T_SCRIPT, () => run(/** @type {HTMLScriptElement} */ (el), type))) return false;
      setAttr.call(el, 'type', BLOCKED_TYPE);
      return true;
    }
    if (tag === 'IMG') {
      return !!hold(url, T_IMG, () => imgSrc && imgSrc.call(el, url));
    }
    const rule = tag === 'IFRAME' && hold(url, T_IFRAME, () => 0);
    if (!rule) return false;
    setAttr.call(el, ATTR_SRC, url);
    setAttr.call(el, ATTR_CATEGORY, rule.purposes.join(' '));
    if (el.isConnected) frame(/** @type {HTMLIFrameElement} */ (el));
    return true;
  };

  /** An element in the document (or about to be): decide it by its own `src`. @param {Element} el */
  const check = (el) => {
    if (seen.has(el) || !el.getAttribute('src')) return;
    if (decide(el, /** @type {any} */ (el).src)) {
      if (el.tagName !== 'SCRIPT') el.removeAttribute('src');
    }
  };

  /** @param {any} n  a node being inserted, and what it holds */
  const scan = (n) => {
    if (!n || (n.nodeType !== 1 && n.nodeType !== 11)) return;
    if (n.nodeType === 1 && n.matches(SEL_AUTO)) check(n);
    if (n.firstElementChild) {
      for (const el of n.querySelectorAll(SEL_AUTO)) check(el);
    }
  };

  // Parser-inserted elements (and any other insertion the patches below do not see).
  new MutationObserver((records) => safe(() => {
    for (const r of records) for (const n of r.addedNodes) scan(n);
  })).observe(document.documentElement, { childList: true, subtree: true });

  // Script-created: before the element is connected.
  /** @param {number} i  which argument is the node (-1: all of them) */
  const inserting = (i) => (/** @type {Node} */ self, /** @type {IArguments} */ a) => {
    if (!self.isConnected) return;
    if (i < 0) for (const n of a) scan(n);
    else scan(a[i]);
  };
  const np = Node.prototype;
  patchMethod(np, 'appendChild', inserting(0));
  patchMethod(np, 'insertBefore', inserting(0));
  patchMethod(np, 'replaceChild', inserting(0));
  patchMethod(ep, 'insertAdjacentElement', inserting(1));
  for (const m of ['append', 'prepend', 'before', 'after', 'replaceWith']) {
    patchMethod(ep, m, inserting(-1));
  }

  /**
   * A `src` being set: scripts connected already (a disconnected one is decided when it is
   * inserted), images always, iframes always.
   * @param {Element} el  @param {any} v
   * @returns {boolean} held: the value must not reach the browser
   */
  const setting = (el, v) => {
    const tag = el.tagName;
    if (tag === 'SCRIPT') {
      if (el.isConnected && !seen.has(el)) decide(el, String(v));
      return false;
    }
    return (tag === 'IMG' || tag === 'IFRAME') && decide(el, String(v));
  };
  patchSetter(HTMLScriptElement.prototype, 'src', setting);
  patchSetter(HTMLImageElement.prototype, 'src', setting);
  patchSetter(HTMLIFrameElement.prototype, 'src', setting);
  patchMethod(ep, 'setAttribute', (self, a) => (
    String(a[0]).toLowerCase() === 'src' && setting(self, a[1]) ? null : undefined));
}
