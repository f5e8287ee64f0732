// Injected before any page script in every frame of every pass (Playwright init script).
// A scan is not a visitor: the choices it makes on our own banner must not become consent
// receipts in the site's proof of consent. So the receipt our embed posts
// (POST /v1/sites/{key}/consents, docs/contracts.md "Scanner traffic") is answered here, in
// the page, as the server answers a stored one (201), and never leaves the browser. The
// banner then carries on exactly as after a real answer. The embed sends receipts with
// fetch, or navigator.sendBeacon where fetch is missing: those two are covered.
(() => {
  "use strict";
  const w = window;
  const RECEIPTS = /^\/v1\/sites\/[^/]+\/consents\/?$/;
  const apply = Reflect.apply;
  const URLCtor = URL;
  const ResponseCtor = w.Response;
  const RequestCtor = w.Request;
  const parse = JSON.parse;
  const stringify = JSON.stringify;
  const StringCtor = String;
  const location_ = w.location;

  function isReceipt(url, method) {
    try {
      const path = new URLCtor(StringCtor(url), location_.href).pathname;
      return StringCtor(method || "GET").toUpperCase() === "POST" && RECEIPTS.test(path);
    } catch (e) {
      return false;
    }
  }

  function answer(body) {
    let sent = {};
    try {
      sent = parse(typeof body === "string" ? body : "{}") || {};
    } catch (e) {}
    const text = stringify({
      receipt_id: sent.receipt_id || null,
      consent_id: sent.consent_id || null,
      recorded: false,
      reason: "scanner traffic: not recorded",
    });
    return new ResponseCtor(text, {
      status: 201,
      headers: { "Content-Type": "application/json" },
    });
  }

  try {
    const fetch_ = w.fetch;
    if (typeof fetch_ === "function" && ResponseCtor) {
      w.fetch = function fetch(input, init) {
        const request = RequestCtor && input instanceof RequestCtor ? input : null;
        const url = request ? request.url : input;
        const method = (init && init.method) || (request && request.method) || "GET";
        if (isReceipt(url, method)) {
          return Promise.resolve(answer(init && init.body));
        }
        return apply(fetch_, this, arguments);
      };
    }
  } catch (e) {}

  try {
    const nav = w.navigator;
    const beacon = nav && nav.sendBeacon;
    if (typeof beacon === "function") {
      nav.sendBeacon = function sendBeacon(url) {
        if (isReceipt(url, "POST")) return true;
        return apply(beacon, this, arguments);
      };
    }
  } catch (e) {}
})();
