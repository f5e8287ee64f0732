// Injected before any page script in every frame (Playwright init script, main world).
// Reports each storage write with the writer's stack to the scanner through a binding.
// Everything it needs is captured here, before the page runs, so a page that later
// replaces Error, JSON, Reflect or the binding global does not blind it.
(() => {
  "use strict";
  const SINK = "__cmpScanSink";
  const w = window;
  const ErrorCtor = Error;
  const JSONObject = JSON;
  const stringify = JSON.stringify;
  const apply = Reflect.apply;
  const getDescriptor = Object.getOwnPropertyDescriptor;
  const defineProperty = Object.defineProperty;
  const StringCtor = String;
  const location_ = w.location;
  const currentScript = getDescriptor(Document.prototype, "currentScript").get;
  let sink = typeof w[SINK] === "function" ? w[SINK] : null;
  const pending = [];
  // A page decides how often it writes: at most LIMIT distinct storage names a frame are
  // reported (the scan's limit per origin; it reads how many there were at the end), and as
  // many writes again of those, and five times as many cookie writes.
  const LIMIT = __STORAGE_LIMIT__;
  const SetCtor = Set;
  const storageNames = new SetCtor();
  let storageRepeats = 0;
  let cookieReports = 0;

  function storageAllowed(kind, name) {
    const key = kind + "\u0000" + name;
    if (storageNames.has(key)) return storageRepeats++ < LIMIT;
    if (storageNames.size >= LIMIT) return false;
    storageNames.add(key);
    return true;
  }

  function stack() {
    let limit;
    try {
      limit = ErrorCtor.stackTraceLimit;
      ErrorCtor.stackTraceLimit = 50;
    } catch (e) {}
    let text = "";
    try {
      text = StringCtor(new ErrorCtor().stack || "");
    } catch (e) {}
    try {
      ErrorCtor.stackTraceLimit = limit;
    } catch (e) {}
    return text;
  }

  function flush() {
    if (!sink && typeof w[SINK] === "function") sink = w[SINK];
    if (!sink) return;
    while (pending.length) {
      const message = pending.shift();
      // Playwright's binding stub serialises with the global JSON.stringify: lend it the
      // original for the call, in case the page replaced it.
      const pageJSON = w.JSON;
      const pageStringify = JSONObject.stringify;
      try {
        w.JSON = JSONObject;
        JSONObject.stringify = stringify;
        apply(sink, w, [message]);
      } catch (e) {
      } finally {
        JSONObject.stringify = pageStringify;
        w.JSON = pageJSON;
      }
    }
  }

  // The script running now: a released one (our embed re-inserts a hand-marked or held
  // script) runs inside the embed's call, so the stack names the embed, not the script.
  function running() {
    try {
      const current = currentScript.call(document);
      if (!current) return null;
      return StringCtor(current.src || "");
    } catch (e) {
      return null;
    }
  }

  function report(data) {
    try {
      data.stack = stack();
      data.script = running();
      data.frame = StringCtor(location_.href);
      // about:blank and srcdoc frames inherit their creator's origin; location does not say so.
      data.origin = StringCtor(w.origin);
      pending.push(apply(stringify, JSONObject, [data]));
    } catch (e) {
      return;
    }
    flush();
    // The binding may be installed a moment after the first script runs.
    if (pending.length) setTimeout(flush, 0);
  }

  // document.cookie: wrap the prototype accessor, so writes through a page's own wrapper
  // (several consent tools wrap document.cookie) still reach us.
  try {
    const cookie = getDescriptor(Document.prototype, "cookie");
    if (cookie && cookie.set && cookie.get) {
      defineProperty(Document.prototype, "cookie", {
        configurable: true,
        enumerable: cookie.enumerable,
        get() {
          return apply(cookie.get, this, []);
        },
        set(value) {
          // The jar before and after tells whether the browser kept the write: a refused
          // one (a public-suffix domain, say) leaves it as it was. null: not readable.
          let before = null;
          let after = null;
          try {
            before = apply(cookie.get, this, []);
          } catch (e) {}
          const result = apply(cookie.set, this, [value]);
          try {
            after = apply(cookie.get, this, []);
          } catch (e) {}
          if (cookieReports++ < LIMIT * 5) {
            report({ t: "cookie", value: StringCtor(value), before: before, jar: after });
          }
          return result;
        },
      });
    }
  } catch (e) {}

  try {
    if (w.CookieStore && CookieStore.prototype.set) {
      const set = CookieStore.prototype.set;
      CookieStore.prototype.set = function (nameOrOptions, value) {
        const o =
          typeof nameOrOptions === "object" && nameOrOptions !== null
            ? nameOrOptions
            : { name: nameOrOptions, value: value };
        if (cookieReports++ < LIMIT * 5) report({
          t: "cookieStore",
          name: StringCtor(o.name),
          domain: o.domain ? StringCtor(o.domain) : null,
          path: o.path ? StringCtor(o.path) : null,
          expires: typeof o.expires === "number" ? o.expires : null,
        });
        return apply(set, this, arguments);
      };
    }
  } catch (e) {}

  // Storage: remember which object is which now; reading them later may throw.
  let local = null;
  let session = null;
  try {
    local = w.localStorage;
  } catch (e) {}
  try {
    session = w.sessionStorage;
  } catch (e) {}
  try {
    const setItem = Storage.prototype.setItem;
    Storage.prototype.setItem = function (key, value) {
      const result = apply(setItem, this, arguments);
      const kind = this === local ? "localStorage" : this === session ? "sessionStorage" : null;
      if (kind) {
        const name = StringCtor(key);
        if (storageAllowed(kind, name)) report({ t: "storage", kind: kind, name: name });
      }
      return result;
    };
  } catch (e) {}

  try {
    const open = IDBFactory.prototype.open;
    IDBFactory.prototype.open = function (name) {
      const text = StringCtor(name);
      if (storageAllowed("indexedDB", text)) report({ t: "storage", kind: "indexedDB", name: text });
      return apply(open, this, arguments);
    };
  } catch (e) {}
})();
