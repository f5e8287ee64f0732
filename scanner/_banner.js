// Fallback banner clicker: find the best accept/reject control in this frame by its text.
// Called with ({phrases: [[text, weight]...], context: regexp source}); returns
// {el, score} so the scanner can compare frames, then click `el` as a real (trusted) click.
({ phrases, context }) => {
  const norm = (s) =>
    String(s || "")
      .toLowerCase()
      .replace(/[\u00a0\s]+/g, " ")
      .replace(/[^\p{L}\p{N} ,'&-]/gu, "")
      .trim();
  const contextRe = new RegExp(context, "i");
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return false;
    const s = getComputedStyle(el);
    return s.visibility !== "hidden" && s.display !== "none" && Number(s.opacity) > 0.05;
  };
  const parentOf = (el) => el.parentElement || (el.getRootNode && el.getRootNode().host) || null;
  // A control counts only inside something that talks about cookies or consent, so that
  // "OK" on a newsletter form is never clicked.
  const inBanner = (el) => {
    let node = el;
    for (let depth = 0; node && depth < 10; depth++, node = parentOf(node)) {
      const attrs = `${node.id || ""} ${node.className && node.className.baseVal === undefined ? node.className : ""} ${node.getAttribute ? node.getAttribute("aria-label") || "" : ""} ${node.getAttribute ? node.getAttribute("role") || "" : ""}`;
      if (contextRe.test(attrs)) return true;
      const text = node.innerText || node.textContent || "";
      if (text.length < 4000 && contextRe.test(text)) return true;
    }
    return false;
  };
  // Weight 0 is a veto: "accept only necessary" must not count as "accept".
  const score = (text) => {
    let best = 0;
    for (const [phrase, weight] of phrases) {
      const exact = text === phrase;
      if (!exact && !(text.length <= phrase.length + 24 && ` ${text} `.includes(` ${phrase} `)))
        continue;
      if (weight === 0) return 0;
      best = Math.max(best, exact ? weight + 1 : weight);
    }
    return best;
  };
  const selector =
    "button, a, [role=button], input[type=button], input[type=submit], [onclick], [tabindex]";
  const candidates = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll(selector)) candidates.push(el);
    for (const el of root.querySelectorAll("*")) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  let best = null;
  let bestScore = 0;
  for (const el of candidates) {
    const text = norm(el.innerText || el.value || el.getAttribute("aria-label") || el.textContent);
    if (!text || text.length > 80) continue;
    const s = score(text);
    if (s > bestScore && visible(el) && inBanner(el)) {
      best = el;
      bestScore = s;
    }
  }
  return { el: best, score: bestScore };
};
