// Automatic blocking's rules (docs/contracts.md, `blocking`): which purposes a URL waits for.
// Data from the published config, matched here; no DOM and no consent state.

/**
 * @typedef {{host: string, path?: string, purposes?: string[]}} Rule
 * @typedef {{mode?: string, rules?: Rule[]}} Blocking
 */

/**
 * A matcher for `rules`: the most specific rule for a URL (longest host, then longest path),
 * or null. A rule's host matches itself and its subdomains, any port, any case; its path is a
 * prefix of the URL's path ("" matches every path). Only http(s) URLs match; a relative URL is
 * resolved against `base` (so it matches only a rule naming the site's own host). Nothing on
 * `own` (the consent server's origin) ever matches: the banner's own receipts always go out.
 * @param {Rule[]} rules
 * @param {string} own
 * @returns {(url: string, base: string) => {host: string, path: string, purposes: string[]} | null}
 */
export function matcher(rules, own) {
  const list = rules.filter((r) => r && r.host).map((r) => ({
    host: r.host.toLowerCase().replace(/\.$/, ''),
    path: r.path || '',
    purposes: r.purposes || [],
  })).sort((a, b) => b.host.length - a.host.length || b.path.length - a.path.length);
  return (url, base) => {
    /** @type {URL} */
    let u;
    try {
      u = new URL(url, base);
    } catch (_) {
      return null;
    }
    if (!/^https?:$/.test(u.protocol) || u.origin === own) return null;
    // "." + host ends with "." + rule host: the host itself or a subdomain of it.
    const host = '.' + u.hostname.replace(/\.$/, '');
    for (const r of list) {
      if (host.endsWith('.' + r.host) && u.pathname.indexOf(r.path) === 0) return r;
    }
    return null;
  };
}
