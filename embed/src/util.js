// Small helpers shared by every module. Nothing here touches the banner.

/**
 * Run `fn` and swallow anything it throws: the embed must never throw into the host page.
 * @template T
 * @param {() => T} fn
 * @returns {T | undefined}
 */
export function safe(fn) {
  try {
    return fn();
  } catch (e) {
    report(e);
  }
}

/** @param {unknown} e */
export function report(e) {
  try {
    console.error('[cmp]', e);
  } catch (_) { /* no console */ }
}

/** @returns {number} seconds since the epoch */
export function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

/**
 * A random UUID v4. `crypto.randomUUID` exists only in secure contexts (https), so plain
 * http pages fall back to `getRandomValues`, which exists everywhere.
 * @returns {string}
 */
export function uuid() {
  const c = window.crypto;
  if (c && c.randomUUID) return c.randomUUID();
  const b = new Uint8Array(16);
  if (c && c.getRandomValues) c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = (Math.random() * 256) | 0;
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  let s = '';
  for (let i = 0; i < 16; i++) {
    s += (b[i] + 256).toString(16).slice(1);
    if (i === 3 || i === 5 || i === 7 || i === 9) s += '-';
  }
  return s;
}

/**
 * Web storage that may be missing or throw (Safari private mode, sandboxed frames).
 * @param {'localStorage' | 'sessionStorage'} kind
 * @returns {Storage | null}
 */
export function webStorage(kind) {
  try {
    return window[kind];
  } catch (_) {
    return null;
  }
}

/**
 * @param {string} key
 * @returns {any}
 */
export function loadJSON(key) {
  return safe(() => {
    const s = webStorage('localStorage');
    const v = s && s.getItem(key);
    return v ? JSON.parse(v) : null;
  });
}

/**
 * @param {string} key
 * @param {any} value
 */
export function saveJSON(key, value) {
  safe(() => {
    const s = webStorage('localStorage');
    if (!s) return;
    if (value == null) s.removeItem(key);
    else s.setItem(key, JSON.stringify(value));
  });
}

/** Run `fn` once the document is parsed (now if it already is). @param {() => void} fn */
export function onReady(fn) {
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', () => safe(fn));
  } else safe(fn);
}

/**
 * Space- or comma-separated purpose keys of a blocked element.
 * @param {Element} el
 * @param {string} attr
 * @returns {string[]}
 */
export function purposesOf(el, attr) {
  return (el.getAttribute(attr) || '').split(/[\s,]+/).filter(Boolean);
}
