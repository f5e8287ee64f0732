// Hooks on the browser's own methods and setters (automatic blocking). Our part runs first,
// inside a try: whatever it throws, the browser's own method then runs as if we were not
// there, so a fault of ours never breaks the page. Exceptions of the original are the page's
// and pass through untouched.
import { report } from './util.js';

/**
 * Replace `obj[name]`: `hook(self, args, original)` runs first; when it returns anything but
 * undefined, that is returned instead of calling the original (which sees `args`, which the
 * hook may have edited).
 * @param {any} obj
 * @param {string} name
 * @param {(self: any, args: IArguments, original: Function) => any} hook
 */
export function patchMethod(obj, name, hook) {
  const orig = obj && obj[name];
  if (typeof orig !== 'function') return;
  obj[name] = function () {
    let r;
    try {
      r = hook(this, arguments, orig);
    } catch (e) {
      report(e);
    }
    return r === undefined ? orig.apply(this, arguments) : r;
  };
}

/**
 * Replace the setter of `proto[prop]`: `hook(self, value, setter)` runs first and returns
 * true when it has dealt with the value (the browser's setter is then not called).
 * @param {any} proto
 * @param {string} prop
 * @param {(self: any, value: any, setter: Function) => any} hook
 */
export function patchSetter(proto, prop, hook) {
  const d = Object.getOwnPropertyDescriptor(proto, prop);
  if (!d || !d.configurable) return;
  patchMethod(d, 'set', (self, a, set) => hook(self, a[0], set) || undefined);
  Object.defineProperty(proto, prop, d);
}
