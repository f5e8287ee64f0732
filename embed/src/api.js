// `window.cmp` for integrators (and the scanner), and the `cmp:consent` DOM event.
import { DOM_EVENT, EVENT_CHANGE } from './constants.js';
import { safe } from './util.js';

/**
 * @param {ReturnType<typeof import('./consent.js').createConsent>} consent
 * @param {{_open: () => void, _layer: () => string}} ui
 * @param {() => any[]} blocked  automatic blocking's ledger (autoblock.js)
 */
export function createApi(consent, ui, blocked) {
  /** @returns {import('./consent.js').Consent | null} a copy: callers cannot edit ours */
  const get = () => {
    const c = consent._get();
    return c ? JSON.parse(JSON.stringify(c)) : null;
  };
  /** @type {Object<string, (...a: any[]) => any>} */
  const api = {
    getConsent: get,
    /** @param {string} purpose */
    hasConsent: (purpose) => consent._granted(purpose),
    acceptAll: () => { consent._acceptAll(ui._layer()); return get(); },
    rejectAll: () => { consent._rejectAll(ui._layer()); return get(); },
    /** @param {Object<string, boolean>} choices */
    setConsent: (choices) => { consent._custom(choices || {}, ui._layer()); return get(); },
    open: () => { ui._open(); },
    /** What automatic blocking held, released, dropped or reported on this page (a copy). */
    blocked: () => JSON.parse(JSON.stringify(blocked())),
    /**
     * @param {string} name  only "change"
     * @param {(consent: any) => void} fn
     * @returns {() => void} unsubscribe
     */
    on: (name, fn) => (name === EVENT_CHANGE && typeof fn === 'function'
      ? consent._subscribe((c) => safe(() => fn(get())))
      : () => {}),
  };
  /** @type {Object<string, any>} */
  const safeApi = {};
  for (const k in api) safeApi[k] = (/** @type {any[]} */ ...a) => safe(() => api[k](...a));
  return safeApi;
}

/** Subscriber: the DOM event for integrators without access to `window.cmp` at load. */
export function domEvent() {
  /** @type {import('./consent.js').Listener} */
  return (c, change) => {
    document.dispatchEvent(new CustomEvent(DOM_EVENT, {
      detail: { consent: JSON.parse(JSON.stringify(c)), method: change._method },
    }));
  };
}
