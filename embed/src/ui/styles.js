// One constructable stylesheet, shared by every shadow root the embed creates.
// `adoptedStyleSheets` is not governed by CSP style-src, so no 'unsafe-inline' is needed;
// browsers without it (Safari < 16.4) get a <style> element instead.
import css from './styles.css';

/** @type {CSSStyleSheet | null} */
let sheet = null;

/**
 * Attach an isolated shadow root to `host` carrying the embed's styles.
 * @param {HTMLElement} host
 * @returns {ShadowRoot}
 */
export function shadow(host) {
  const root = host.attachShadow({ mode: 'open' });
  try {
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
    }
    root.adoptedStyleSheets = [sheet];
  } catch (_) {
    const style = document.createElement('style');
    style.textContent = css;
    root.appendChild(style);
  }
  return root;
}
