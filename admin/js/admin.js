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

function enhance(/** @type {ParentNode} */ root) {
  copyButtons(root);
  selectAll(root);
  autoSubmit(root);
}

document.addEventListener('DOMContentLoaded', () => enhance(document));
document.addEventListener('htmx:load', (event) => enhance(/** @type {any} */ (event.target)));
