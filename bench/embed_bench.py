"""Embed benchmark: our banner against vanilla-cookieconsent, Klaro and Osano's cookieconsent.

Same headless Chromium run, same local page, each library installed the way its docs say.
Measures, per library and profile (desktop; mobile with 4x CPU throttling):

- gzipped bytes of the JS+CSS a banner needs (ours: with and without the site's texts),
- time from navigation start to the banner visible: the first animation frame in which it has
  a box, is not hidden and not fully transparent, and not before first contentful paint (a
  frame before the first paint shows nothing),
- long tasks (PerformanceObserver ``longtask``) and Cumulative Layout Shift,
- for ours, how long the tag blocks the parser (marks around it: download and evaluation),
- on every load, the animation frames over 50 ms (Long Animation Frames API): how much of each
  was the library's own script (by URL), other script and rendering, so a long task can be
  told apart as the library's or the page's without a trace.

``--attribute`` adds one traced load per library on the mobile profile (Chromium's trace via
CDP, not counted in the tables) and prints what each long task the page observed spent its
time on: script by URL, HTML parsing, style, layout, paint, GC. ``--bundle NAME=PATH`` adds
another build of our embed as a row of its own in the same interleaved run (e.g. the previous
commit's ``cmp.js``, for a before/after under the same machine load). ``--profile mobile``
and ``--only LIBRARY`` (or ``--only none``) narrow the run, for many loads of a few rows.

Run: ``.venv/bin/python bench/embed_bench.py [--runs 7] [--attribute]`` after ``npm ci`` in
``embed/``. Not a test: numbers go to stdout (and ``--json`` to a file), nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.async_api import Browser, Page, async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _longtasks import TRACE_CATEGORIES, frame_causes, long_task_breakdown  # noqa: E402

from cmp_server import defaults  # noqa: E402
from cmp_server.services.configs import embed_bundle, render_script  # noqa: E402
from scanner.browser import launch_chromium  # noqa: E402

NODE = ROOT / "embed" / "node_modules"

CONTENT = "\n".join(
    f"<h2>Section {i}</h2><p>" + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 8
    + "</p>" for i in range(12)
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}</title>
{head}
<style>body {{ font: 16px/1.5 sans-serif; max-width: 46rem; margin: 2rem auto; }}</style>
</head><body><main><h1>{name}</h1>{content}</main>
{body}
</body></html>"""

EN = defaults.DEFAULT_TEXTS["en"]
PURPOSES = [(key, required, names["en"], descs["en"])
            for key, required, names, descs in defaults.DEFAULT_PURPOSES]


def our_config() -> dict[str, Any]:
    """A realistic published config: three languages, four purposes, two vendors, cookies."""
    langs = list(defaults.LANGUAGES)
    return {
        "site_key": "bench", "version": 1, "published_at": "2026-11-21T12:00:00Z",
        "material_hash": "0" * 64, "default_language": "en", "languages": langs,
        "policy_url": "/cookies",
        "texts": {lang: defaults.DEFAULT_TEXTS[lang] for lang in langs},
        "purposes": [{"key": k, "required": r, "name": n, "description": d}
                     for k, r, n, d in defaults.DEFAULT_PURPOSES],
        "vendors": [
            {"key": "google", "name": "Google", "country": "US",
             "privacy_policy_url": "https://policies.google.com/privacy",
             "transfers_outside_eea": True, "transfer_basis": "EU-US Data Privacy Framework",
             "purposes": ["statistics"]},
            {"key": "meta", "name": "Meta Platforms", "country": "US", "privacy_policy_url": None,
             "transfers_outside_eea": True, "transfer_basis": "EU-US Data Privacy Framework",
             "purposes": ["marketing"]},
        ],
        "cookies": [
            {"name": n, "match": m, "kind": "cookie", "domain": None, "vendor": v, "purpose": p,
             "duration_days": d, "party": "first", "description": {"en": desc}}
            for n, m, v, p, d, desc in [
                ("cmp_consent", "exact", None, "necessary", 180, "Stores your cookie choices."),
                ("_ga", "exact", "google", "statistics", 400, "Tells visitors apart."),
                ("_ga_", "prefix", "google", "statistics", 400, "Keeps the session state."),
                ("_fbp", "exact", "meta", "marketing", 90, "Identifies the browser for ads."),
            ]
        ],
        "options": {**defaults.DEFAULT_OPTIONS, "consent_lifetime_days": 180,
                    "cookie_domain": None},
    }


def vanilla_config() -> dict[str, Any]:
    return {
        "categories": {k: ({"enabled": True, "readOnly": True} if r else {})
                       for k, r, _, _ in PURPOSES},
        "language": {"default": "en", "translations": {"en": {
            "consentModal": {"title": EN["title"], "description": EN["description"],
                             "acceptAllBtn": EN["accept_all"],
                             "acceptNecessaryBtn": EN["reject_all"],
                             "showPreferencesBtn": EN["customize"]},
            "preferencesModal": {"title": EN["preferences_title"],
                                 "acceptAllBtn": EN["accept_all"],
                                 "acceptNecessaryBtn": EN["reject_all"],
                                 "savePreferencesBtn": EN["save"],
                                 "closeIconLabel": EN["close"],
                                 "sections": [{"title": n, "description": d, "linkedCategory": k}
                                              for k, _, n, d in PURPOSES]},
        }}},
    }


def klaro_config() -> dict[str, Any]:
    return {
        "version": 1, "elementID": "klaro", "storageMethod": "cookie", "groupByPurpose": True,
        "mustConsent": False, "acceptAll": True, "hideDeclineAll": False, "htmlTexts": False,
        "lang": "en",
        "translations": {"en": {
            "consentNotice": {"description": EN["description"]},
            "purposes": {k: {"title": n, "description": d} for k, _, n, d in PURPOSES},
        }},
        "services": [
            {"name": "google-analytics", "title": "Google Analytics", "purposes": ["statistics"]},
            {"name": "meta-pixel", "title": "Meta Pixel", "purposes": ["marketing"]},
        ],
    }


def osano_config() -> dict[str, Any]:
    return {
        "type": "opt-in", "palette": {"popup": {"background": "#ffffff", "text": "#1b1b1b"},
                                      "button": {"background": "#1d3f72", "text": "#ffffff"}},
        "content": {"message": EN["description"], "allow": EN["accept_all"],
                    "deny": EN["reject_all"], "link": EN["policy_link"], "href": "/cookies"},
    }


@dataclass
class Lib:
    name: str
    files: dict[str, bytes]  # path -> bytes served
    assets: list[str]  # the JS+CSS a banner needs (counted for size)
    head: str
    body: str
    # JS expression (no side effects) giving the banner element or null.
    finder: str
    extra_sizes: dict[str, int] = field(default_factory=dict)


OURS_FINDER = ("(() => { const h = document.querySelector('cmp-banner');"
               " return h && h.shadowRoot && h.shadowRoot.querySelector('.b'); })()")


def our_lib(name: str, bundle: bytes) -> Lib:
    slug = name.replace(" ", "-").replace("/", "-")
    served = render_script(bundle, json.dumps(our_config(), separators=(",", ":")).encode())
    # Marks around the tag: its blocking time (download from this machine and evaluation).
    return Lib(name, {f"/{slug}/cmp.js": served}, [f"/{slug}/cmp.js"],
               "<script>performance.mark('tag')</script>"
               f'<script src="/{slug}/cmp.js"></script>'
               "<script>performance.measure('tag', 'tag')</script>", "", OURS_FINDER,
               {"without texts": gz(bundle)})


def libraries(extra: dict[str, bytes] | None = None) -> list[Lib]:
    vanilla_js = (NODE / "vanilla-cookieconsent/dist/cookieconsent.umd.js").read_bytes()
    vanilla_css = (NODE / "vanilla-cookieconsent/dist/cookieconsent.css").read_bytes()
    klaro_js = (NODE / "klaro/dist/klaro.js").read_bytes()
    osano_js = (NODE / "cookieconsent/build/cookieconsent.min.js").read_bytes()
    osano_css = (NODE / "cookieconsent/build/cookieconsent.min.css").read_bytes()
    return [
        Lib("no banner (baseline)", {}, [], "", "", "document.querySelector('h1')"),
        our_lib("ours", embed_bundle()),
        *(our_lib(f"ours: {name}", bundle) for name, bundle in (extra or {}).items()),
        Lib("vanilla-cookieconsent",
            {"/vanilla/cc.js": vanilla_js, "/vanilla/cc.css": vanilla_css},
            ["/vanilla/cc.js", "/vanilla/cc.css"],
            '<link rel="stylesheet" href="/vanilla/cc.css">',
            '<script src="/vanilla/cc.js"></script>'
            f"<script>CookieConsent.run({json.dumps(vanilla_config())});</script>",
            "document.querySelector('#cc-main .cm')"),
        Lib("klaro", {"/klaro/klaro.js": klaro_js}, ["/klaro/klaro.js"],
            f"<script>var klaroConfig = {json.dumps(klaro_config())};</script>"
            '<script defer src="/klaro/klaro.js"></script>', "",
            "document.querySelector('.klaro .cookie-notice')"),
        Lib("osano-cookieconsent",
            {"/osano/cc.js": osano_js, "/osano/cc.css": osano_css},
            ["/osano/cc.js", "/osano/cc.css"],
            '<link rel="stylesheet" href="/osano/cc.css">',
            '<script src="/osano/cc.js"></script>'
            f"<script>window.cookieconsent.initialise({json.dumps(osano_config())});</script>",
            "document.querySelector('.cc-window')"),
    ]


def gz(data: bytes) -> int:
    return len(gzip.compress(data, 9))


PROBE = """
(() => {
  const b = window.__bench = {longtasks: [], longtaskStarts: [], cls: 0, visible: null,
                             fcp: null, frames: []};
  try {
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) {
        b.longtasks.push(e.duration);
        b.longtaskStarts.push([e.startTime, e.duration]);
      }
    })
      .observe({type: 'longtask', buffered: true});
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) if (!e.hadRecentInput) b.cls += e.value;
    })
      .observe({type: 'layout-shift', buffered: true});
    new PerformanceObserver((l) => { for (const e of l.getEntries())
      if (e.name === 'first-contentful-paint') b.fcp = e.startTime; })
      .observe({type: 'paint', buffered: true});
  } catch (e) {}
  try {
    // Long animation frames: what each frame over 50 ms spent on script (by URL) and on
    // rendering, for every load (no trace needed).
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) {
        const end = e.startTime + e.duration;
        b.frames.push({start: e.startTime, duration: e.duration,
          render: e.renderStart ? end - e.renderStart : 0,
          layout: e.styleAndLayoutStart ? end - e.styleAndLayoutStart : 0,
          scripts: e.scripts.map((s) => [s.sourceURL || s.invoker, s.duration, s.invokerType,
            s.forcedStyleAndLayoutDuration, s.executionStart - s.startTime])});
      }
    }).observe({type: 'long-animation-frame', buffered: true});
  } catch (e) {}  // no Long Animation Frames API: the tables still work
  const shown = (el) => {
    if (!el) return false;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return false;
    const up = (n) => n.parentElement || (n.getRootNode() && n.getRootNode().host);
    for (let n = el; n && n.nodeType === 1; n = up(n)) {
      const s = getComputedStyle(n);
      if (s.visibility === 'hidden' || s.display === 'none') return false;
      if (parseFloat(s.opacity) === 0) return false;
    }
    return true;
  };
  const tick = () => {
    if (shown(FINDER)) { b.visible = performance.now(); return; }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
"""


def serve(libs: list[Lib], root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Write every page and asset under ``root`` and serve it from its own process: a server
    sharing this process (and its GIL) with the Playwright driver would slow the downloads."""
    for lib in libs:
        page = PAGE.format(name=lib.name, head=lib.head, body=lib.body, content=CONTENT)
        (root / lib.name).mkdir(parents=True, exist_ok=True)
        (root / lib.name / "index.html").write_text(page)
        for path, data in lib.files.items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
         "--directory", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    return proc, base


PROFILES: dict[str, dict[str, Any]] = {
    "desktop": {"context": {"viewport": {"width": 1280, "height": 800}}, "cpu": 1},
    "mobile": {"context": {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3,
                           "is_mobile": True, "has_touch": True}, "cpu": 4},
}


@contextlib.asynccontextmanager
async def bench_page(browser: Browser, lib: Lib, profile: dict[str, Any]
                     ) -> AsyncIterator[Page]:
    """A page in a new browser context (no cookies, storage or cache: a first visit), with the
    probe and the profile's CPU throttling."""
    context = await browser.new_context(**profile["context"])
    try:
        await context.add_init_script(PROBE.replace("FINDER", lib.finder))
        page = await context.new_page()
        if profile["cpu"] != 1:
            cdp = await context.new_cdp_session(page)
            await cdp.send("Emulation.setCPUThrottlingRate", {"rate": profile["cpu"]})
        yield page
    finally:
        await context.close()


async def measure(browser: Browser, base: str, lib: Lib, profile: dict[str, Any]
                  ) -> dict[str, Any]:
    async with bench_page(browser, lib, profile) as page:
        await page.goto(f"{base}/{lib.name}/", wait_until="load")
        await page.wait_for_function("window.__bench.visible !== null", timeout=15000)
        await page.wait_for_timeout(1000)  # let animations, late tasks and shifts land
        result = dict(await page.evaluate("window.__bench"))
        result["shown"] = max(result["visible"], result["fcp"] or 0)
        result["tag"] = await page.evaluate(
            "(performance.getEntriesByName('tag', 'measure')[0] || {}).duration || null")
        return result


Breakdown = tuple[list[tuple[float, float, list[tuple[str, float]]]], float, float]


async def attribute(browser: Browser, base: str, lib: Lib, profile: dict[str, Any]
                    ) -> Breakdown:
    """One traced load (not counted in the tables): the long tasks and what they spent, first
    contentful paint and banner visible (to tell the page's first frame from the banner's)."""
    async with bench_page(browser, lib, profile) as page:
        await browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
        await page.goto(f"{base}/{lib.name}/", wait_until="load")
        await page.wait_for_function("window.__bench.visible !== null", timeout=15000)
        await page.wait_for_timeout(1000)
        bench = await page.evaluate("window.__bench")
        trace = json.loads(await browser.stop_tracing())
        return (long_task_breakdown(trace["traceEvents"], bench["longtaskStarts"]),
                bench["fcp"] or 0, bench["visible"])


def fmt_ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="page loads per library and profile")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--attribute", action="store_true",
                        help="trace one more load per library (mobile) and break down its long "
                             "tasks")
    parser.add_argument("--bundle", action="append", default=[], metavar="NAME=PATH",
                        help="another build of our cmp.js, measured as its own row")
    parser.add_argument("--profile", action="append", choices=list(PROFILES),
                        help="only this profile (repeatable; default: all)")
    parser.add_argument("--only", action="append", metavar="LIBRARY",
                        help="only this library besides ours and the baseline (repeatable; "
                             "'none' for just those two)")
    args = parser.parse_args()
    profiles = {p: PROFILES[p] for p in args.profile or PROFILES}

    bundles = {}
    for spec in args.bundle:
        name, _, file = spec.partition("=")
        bundles[name] = Path(file).read_bytes()
    libs = libraries(bundles)
    if args.only:
        libs = [lib for lib in libs if not lib.assets or lib.name.startswith("ours")
                or lib.name in args.only]
    tmp = tempfile.TemporaryDirectory()
    server, base = serve(libs, Path(tmp.name))
    results: dict[str, dict[str, list[dict[str, Any]]]] = {p: {lib.name: [] for lib in libs}
                                                           for p in profiles}
    breakdowns: dict[str, Breakdown] = {}
    async with async_playwright() as pw:
        browser = await launch_chromium(pw, args=["--disable-blink-features=AutomationControlled"])
        try:
            for pname, profile in profiles.items():
                for lib in libs:  # one warm-up load each (disk cache of the binary, fonts)
                    await measure(browser, base, lib, profile)
                for _ in range(args.runs):
                    for lib in libs:  # interleaved, so drift hits every library alike
                        results[pname][lib.name].append(
                            await measure(browser, base, lib, profile))
            if args.attribute:
                for lib in libs:
                    breakdowns[lib.name] = await attribute(browser, base, lib, PROFILES["mobile"])
        finally:
            await browser.close()
            server.terminate()
            server.wait()
            tmp.cleanup()

    sizes = {lib.name: sum(gz(lib.files[a]) for a in lib.assets) for lib in libs}
    ours = sizes["ours"]
    print(f"\nEmbed benchmark: {args.runs} runs per library and profile, medians; Chromium "
          f"headless; ratios are peer / ours.\n")
    print("| library | JS+CSS gzipped | vs ours |")
    print("|---|---:|---:|")
    for lib in libs[1:]:
        extra = "".join(f" ({k}: {v / 1024:.1f} KB)" for k, v in lib.extra_sizes.items())
        print(f"| {lib.name} | {sizes[lib.name] / 1024:.1f} KB{extra} | "
              f"{fmt_ratio(sizes[lib.name], ours)} |")
    summary: dict[str, Any] = {"sizes": sizes, "profiles": {}}
    for pname in profiles:
        print(f"\n**{pname}** (CPU throttling {PROFILES[pname]['cpu']}x)\n")
        print("| library | time to banner (ms) | vs ours | FCP (ms) | longest task (ms, median) "
              "| tasks > 50 ms | CLS | our tag blocks the parser (ms) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        med_ours = statistics.median(r["shown"] for r in results[pname]["ours"])
        summary["profiles"][pname] = {}
        for lib in libs:
            runs = results[pname][lib.name]
            visible = statistics.median(r["shown"] for r in runs)
            fcp = statistics.median(r["fcp"] or 0 for r in runs)
            longest = statistics.median(max(r["longtasks"], default=0) for r in runs)
            over = statistics.median(sum(1 for t in r["longtasks"] if t > 50) for r in runs)
            cls = max(r["cls"] for r in runs)
            tags = [r["tag"] for r in runs if r.get("tag") is not None]
            tag = statistics.median(tags) if tags else None
            summary["profiles"][pname][lib.name] = {
                "visible_ms": visible, "fcp_ms": fcp, "longest_task_ms_median": longest,
                "longest_task_ms_max": max(max(r["longtasks"], default=0) for r in runs),
                "long_tasks_median": over, "cls_max": cls, "tag_blocks_ms": tag}
            ratio = "-" if not lib.assets else fmt_ratio(visible, med_ours)
            print(f"| {lib.name} | {visible:.0f} | {ratio} | {fcp:.0f} | "
                  f"{longest:.0f} | {over:g} | {cls:.3f} | "
                  f"{'-' if tag is None else f'{tag:.1f}'} |")
        print(f"\nLong tasks and long animation frames ({pname}, every load): loads with a "
              "task over 50 ms; frames over 50 ms, and in them the longest single run of the "
              "library's own script, all its script, the most of other script (page, probe) in "
              "one frame and the most rendering (style, layout, paint) in one frame\n")
        print("| library | loads with a task > 50 ms | frames > 50 ms "
              "| own script, longest run (ms) | own runs > 50 ms | own script, all (ms) "
              "| other script (max ms) "
              "| rendering (max ms) | longest frame (ms) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for lib in libs:
            # The page's inline code is the library's install code (and our tag's marks);
            # Chromium's URL of the page escapes the space only.
            page_url = quote(f"/{lib.name}/", safe="/:()")
            c = frame_causes((*lib.assets, page_url), results[pname][lib.name])
            summary["profiles"][pname][lib.name]["frames"] = c
            print(f"| {lib.name} | {c['loads_with_long_task']} / {c['loads']} | "
                  f"{c['long_frames']} | {c['own_script_ms_max']:.0f} | "
                  f"{c['own_runs_over_50_ms']} | "
                  f"{c['own_script_ms_total']:.0f} | {c['other_script_ms_max']:.0f} | "
                  f"{c['render_ms_max']:.0f} | {c['longest_frame_ms']:.0f} |")
    if breakdowns:
        print("\n**Long tasks on one traced mobile load** (start and duration in ms; exclusive "
              "time by kind; `js <dir>/<file>` is script from that URL, `js (no URL)` inline "
              "code or the benchmark's probe)\n")
        for name, (tasks, fcp, visible) in breakdowns.items():
            print(f"- {name} (FCP {fcp:.0f}, banner visible {visible:.0f}): "
                  + ("none" if not tasks else ""))
            for start, duration, spent in tasks:
                parts = ", ".join(f"{k} {v:.0f}" for k, v in spent)
                print(f"  - at {start:.0f}, {duration:.0f} ms: {parts}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "raw": results,
                                         "long_tasks": breakdowns}, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
