// Where the choice lives (a first-party cookie) and how withdrawn purposes' cookies and
// storage keys are deleted. The consent module only sees the small adapter returned here.
import {
  KIND_COOKIE, KIND_IDB, KIND_LOCAL, KIND_SESSION, MATCH_PREFIX,
} from './constants.js';
import { safe, webStorage } from './util.js';

/**
 * @typedef {Object} Store
 * @property {() => any} _read
 * @property {(value: any) => void} _write
 */

/**
 * The consent cookie: JSON, URI-encoded; `SameSite=Lax`; `Secure` on https; the configured
 * domain so one choice covers every subdomain.
 * @param {import('./config.js').Site} site
 * @returns {Store}
 */
export function cookieStore(site) {
  // The admin's preview keeps the choice in memory: nothing written on the admin's origin.
  if (site._raw.preview) {
    /** @type {any} */
    let kept = null;
    return { _read: () => kept, _write(value) { kept = value; } };
  }
  const name = site._cookie;
  return {
    _read() {
      const v = readCookie(name);
      if (!v) return null;
      try {
        return JSON.parse(decodeURIComponent(v));
      } catch (_) {
        return null;
      }
    },
    _write(value) {
      let c = name + '=' + encodeURIComponent(JSON.stringify(value)) +
        ';path=/;max-age=' + site._lifetime + ';samesite=lax';
      if (site._domain) c += ';domain=' + site._domain;
      if (location.protocol === 'https:') c += ';secure';
      document.cookie = c;
    },
  };
}

/**
 * @param {string} name
 * @returns {string | null}
 */
function readCookie(name) {
  const parts = document.cookie.split(/;\s*/);
  for (const p of parts) {
    const i = p.indexOf('=');
    if (p.slice(0, i) === name) return p.slice(i + 1);
  }
  return null;
}

/** @returns {string[]} names of the cookies this page can see */
function cookieNames() {
  return document.cookie.split(/;\s*/).map((p) => p.split('=')[0]).filter(Boolean);
}

/**
 * The host and every parent domain, each with and without a leading dot, plus host-only.
 * @returns {(string | null)[]}
 */
function domains() {
  /** @type {(string | null)[]} */
  const out = [null];
  const labels = location.hostname.split('.');
  for (let i = 0; i < labels.length - 1; i++) {
    const d = labels.slice(i).join('.');
    out.push(d, '.' + d);
  }
  return out;
}

/** "/", and every prefix of the current path ("/a", "/a/", "/a/b" ...). */
function paths() {
  const out = ['/'];
  const segs = location.pathname.split('/');
  let p = '';
  for (let i = 1; i < segs.length; i++) {
    if (!segs[i]) continue;
    p += '/' + segs[i];
    out.push(p, p + '/');
  }
  return out;
}

/**
 * @param {import('./config.js').Item} item
 * @param {string} name
 */
function matches(item, name) {
  return item.match === MATCH_PREFIX ? name.indexOf(item.name) === 0 : name === item.name;
}

/**
 * Delete every cookie and storage key the inventory attributes to one of `purposes`:
 * cookies on the host and every parent domain and path, local/session storage keys,
 * IndexedDB databases. Third-party cookies cannot be reached from here.
 * @param {import('./config.js').Item[]} items
 * @param {string[]} purposes
 */
export function deleteItems(items, purposes) {
  const doomed = items.filter((it) => purposes.indexOf(it.purpose) >= 0);
  if (!doomed.length) return;
  const cookies = cookieNames();
  const expire = '=;expires=Thu, 01 Jan 1970 00:00:00 GMT;max-age=0;path=';
  for (const it of doomed) {
    const kind = it.kind || KIND_COOKIE;
    if (kind === KIND_COOKIE) {
      for (const name of cookies) {
        if (!matches(it, name)) continue;
        for (const d of domains()) {
          for (const p of paths()) {
            document.cookie = name + expire + p + (d ? ';domain=' + d : '');
          }
        }
      }
    } else if (kind === KIND_LOCAL || kind === KIND_SESSION) {
      safe(() => {
        const s = webStorage(/** @type {any} */ (kind));
        if (!s) return;
        for (let i = s.length - 1; i >= 0; i--) {
          const k = s.key(i);
          if (k != null && matches(it, k)) s.removeItem(k);
        }
      });
    } else if (kind === KIND_IDB) {
      safe(() => {
        const idb = window.indexedDB;
        if (!idb) return;
        if (it.match !== MATCH_PREFIX) idb.deleteDatabase(it.name);
        else if (idb.databases) {
          idb.databases().then((list) => list.forEach((db) => {
            if (db.name && matches(it, db.name)) idb.deleteDatabase(db.name);
          }), () => {});
        }
      });
    }
  }
}
