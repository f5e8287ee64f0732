// Automatic blocking of requests a script makes itself: `navigator.sendBeacon`, `fetch` and
// XMLHttpRequest to a URL a rule holds.
//
// - A beacon is held and sent once its purposes are granted on this page (and never if the
//   visitor leaves first). Holding is sound: the caller gets `true` ("queued") as it would,
//   and a beacon has no answer anyone waits for.
// - A fetch or an XMLHttpRequest is dropped: it fails as a network error (a rejected promise
//   with a TypeError; an XHR `error` event with status 0), without a request. Holding is not
//   sound: a caller waits for the answer (a pending promise could stall the page's code for
//   as long as the visitor takes to choose, or for good), a late answer would reach code that
//   has moved on, and a streamed body cannot be sent twice. Sites already cope with these
//   calls failing: that is what an ad blocker does to them.
import { T_BEACON, T_FETCH, T_XHR } from './constants.js';
import { patchMethod } from './patch.js';

/** @param {import('./autoblock-dom.js').Hold} hold */
export function guardRequests(hold) {
  patchMethod(window, 'fetch', (self, a) => {
    const r = a[0];
    const url = r && r.url ? r.url : String(r);
    return hold(url, T_FETCH, null) ? Promise.reject(new TypeError('Failed to fetch')) : undefined;
  });
  patchMethod(Navigator.prototype, 'sendBeacon', (self, a, send) => {
    const url = String(a[0]);
    const data = a[1];
    return hold(url, T_BEACON, () => send.call(self, url, data)) ? true : undefined;
  });
  // "data:" without a comma is no valid data: URL: the request fails as a network error,
  // inside the browser, on send (asynchronous: an `error` event; synchronous: it throws).
  patchMethod(XMLHttpRequest.prototype, 'open', (self, a) => {
    if (hold(String(a[1]), T_XHR, null)) a[1] = 'data:';
  });
}
