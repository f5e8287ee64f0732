// The admin's JavaScript, bundled by embed/build.mjs into admin/static/admin.js and served from
// our own origin (the CSP allows no other script, and no inline script).
//
// Everything here is an enhancement: every page and form works without it. htmx is configured
// by the <meta name="htmx-config"> in base.html (no eval, no history snapshots in
// localStorage: admin pages hold consent records and must not linger in the browser).
import htmx from 'htmx.org';

/** @type {any} */ (window).htmx = htmx;

/** A "Copy" button next to a snippet: shown only where it can work. */
function copyButtons(/** @type {ParentNode} */ root) {
  root.querySelectorAll('button[data-copy]').forEach((node) => {
    const button = /** @type {HTMLButtonElement} */ (node);
    if (!navigator.clipboard || button.dataset.ready) return;
    button.dataset.ready = '1';
    button.hidden = false;
    button.addEventListener('click', () => {
      const source = document.getElementById(button.dataset.copy || '');
      if (!source) return;
      navigator.clipboard.writeText(source.textContent || '').then(() => {
        const label = button.textContent;
        button.textContent = 'Copied';
        setTimeout(() => { button.textContent = label; }, 1500);
      });
    });
  });
}

/** A header checkbox that selects every row checkbox of the same name in its form. */
function selectAll(/** @type {ParentNode} */ root) {
  root.querySelectorAll('input[data-select-all]').forEach((node) => {
    const all = /** @type {HTMLInputElement} */ (node);
    if (all.dataset.ready) return;
    all.dataset.ready = '1';
    all.hidden = false;
    const form = all.form || all.closest('form');
    const boxes = () => /** @type {HTMLInputElement[]} */ (Array.from(
      (form || document).querySelectorAll(`input[type=checkbox][name="${all.dataset.selectAll}"]`),
    ));
    all.addEventListener('change', () => { boxes().forEach((box) => { box.checked = all.checked; }); });
  });
}

/** A filter <select> or checkbox that submits its GET form when it changes. */
function autoSubmit(/** @type {ParentNode} */ root) {
  root.querySelectorAll('[data-autosubmit]').forEach((node) => {
    const input = /** @type {HTMLInputElement} */ (node);
    if (input.dataset.ready) return;
    input.dataset.ready = '1';
    input.addEventListener('change', () => { if (input.form) input.form.requestSubmit(); });
  });
}

/**
 * The preview's sample tags: inserted as a vendor's loader inserts its script (createElement,
 * then appendChild) or its pixel (new Image), so the draft's blocking rules meet them as they
 * would on the site; and the list of what the banner held, released or would block
 * (window.cmp.blocked()), kept current. The admin's CSP lets no script or image load from
 * another origin: a released sample is refused by the browser, and nothing leaves it.
 */
function sampleTags() {
  const data = document.getElementById('cmp-sample-tags');
  const body = document.getElementById('cmp-blocked');
  if (!data || !body) return;
  /** @type {{type: string, url: string}[]} */
  const tags = JSON.parse(data.textContent || '[]');
  for (const tag of tags) {
    if (tag.type === 'img') {
      new Image().src = tag.url;
    } else {
      const script = document.createElement('script');
      script.async = true;
      script.src = tag.url;
      document.head.appendChild(script);
    }
  }
  const cell = (/** @type {HTMLTableRowElement} */ row, /** @type {string} */ text,
    /** @type {string} */ label) => {
    const td = document.createElement('td');
    td.dataset.label = label;
    const span = document.createElement('span');
    span.textContent = text;
    td.appendChild(span);
    row.appendChild(td);
  };
  let shown = '';
  const show = () => {
    const cmp = /** @type {any} */ (window).cmp;
    /** @type {{url: string, type: string, purposes: string[], state: string}[]} */
    const found = cmp && cmp.blocked ? cmp.blocked() : [];
    const now = JSON.stringify(found);
    if (now === shown) return;
    shown = now;
    body.replaceChildren();
    for (const entry of found) {
      const row = document.createElement('tr');
      const th = document.createElement('th');
      th.scope = 'row';
      const code = document.createElement('code');
      code.className = 'url';
      code.textContent = entry.url;
      th.appendChild(code);
      row.appendChild(th);
      cell(row, entry.type, 'Type');
      cell(row, entry.purposes.join(', '), 'Waits for');
      cell(row, entry.state, 'State');
      body.appendChild(row);
    }
    const none = document.getElementById('cmp-blocked-none');
    if (none) none.hidden = found.length > 0;
  };
  show();
  document.addEventListener('cmp:consent', () => setTimeout(show, 0));
  setInterval(show, 500);
}

/**
 * A table or chart box that scrolls sideways (a narrow screen, a wide table) can be reached
 * and scrolled from the keyboard: it becomes a labelled region in the tab order while, and
 * only while, it has more to show than fits (WCAG 2.1.1; axe's scrollable-region-focusable).
 */
function scrollRegions() {
  document.querySelectorAll('.table-wrap, .chart-wrap').forEach((node) => {
    const box = /** @type {HTMLElement} */ (node);
    const scrolls = box.scrollWidth > box.clientWidth + 1;
    if (scrolls && !box.dataset.region) {
      box.dataset.region = '1';
      box.tabIndex = 0;
      box.setAttribute('role', 'region');
      const named = box.querySelector('caption, svg > title');
      const name = named ? (named.textContent || '').trim() : '';
      box.setAttribute('aria-label', `${name || 'Table'} (scrolls sideways)`);
    } else if (!scrolls && box.dataset.region) {
      delete box.dataset.region;
      box.removeAttribute('tabindex');
      box.removeAttribute('role');
      box.removeAttribute('aria-label');
    }
  });
}

/**
 * The appearance editor's live preview: as staff change a field, the framed preview reloads
 * with the form's values in its query (shown, not saved), and the checks are asked again.
 * The CSRF token stays out of both URLs.
 */
function lookPreview(/** @type {ParentNode} */ root) {
  root.querySelectorAll('form[data-look-preview]').forEach((node) => {
    const form = /** @type {HTMLFormElement} */ (node);
    const frame = /** @type {HTMLIFrameElement | null} */ (
      document.getElementById(form.dataset.lookPreview || ''));
    if (!frame || form.dataset.ready) return;
    form.dataset.ready = '1';
    const base = frame.src.split('?')[0];
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    const update = () => {
      const query = new URLSearchParams();
      new FormData(form).forEach((value, name) => {
        if (name !== 'csrf_token' && typeof value === 'string') query.append(name, value);
      });
      frame.src = `${base}?frame=1&${query}`;
      const checks = form.dataset.lookChecks;
      if (checks && form.dataset.checkUrl) {
        htmx.ajax('GET', `${form.dataset.checkUrl}?${query}`, { target: `#${checks}`, swap: 'innerHTML' });
      }
    };
    const later = () => { clearTimeout(timer); timer = setTimeout(update, 250); };
    form.addEventListener('input', later);
    form.addEventListener('change', later);
  });
}

function enhance(/** @type {ParentNode} */ root) {
  copyButtons(root);
  selectAll(root);
  autoSubmit(root);
  lookPreview(root);
}

document.addEventListener('DOMContentLoaded', () => { enhance(document); sampleTags(); scrollRegions(); });
document.addEventListener('htmx:load', (event) => {
  enhance(/** @type {any} */ (event.target));
  scrollRegions();
});
let resized = 0;
window.addEventListener('resize', () => {
  clearTimeout(resized);
  resized = window.setTimeout(scrollRegions, 150);
});
