"""Automatic blocking's cost: time to the load event of a page with 30 scripts, 10 of them
matched by rules, with our tag and rules, with our tag and no rules, and with no tag.

The page: 20 ``<script src>`` in the HTML (5 matched) and an inline loader creating 10 more
with ``createElement`` + ``insertBefore`` (5 matched), as vendor snippets do; every script
appends a few elements (through the patched insertion methods). The rules: the 2 that match
and 28 for other hosts, as a site's published config would carry.

Two visits per variant:

- ``consented``: a returning visitor who granted everything (a consent cookie): the matched
  scripts run during load, so all 30 load in every variant and the difference is the hooks'
  cost (the figure the goal is about: rules add at most 5 % over the tag alone);
- ``first``: no choice yet: with rules the 10 matched scripts are held (not loaded), so that
  row is about what holding saves, not what the hooks cost.

Same headless Chromium, pages served by one local server in its own process, the variants
interleaved run by run (drift hits all alike), one warm-up load each; medians, and ratios to
the tag alone. Compare ratios, not milliseconds.

Run: ``.venv/bin/python bench/blocking_bench.py [--runs 21] [--cpu 4]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from playwright.async_api import Browser, async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from embed_bench import Lib, our_config, serve  # noqa: E402

from cmp_server.services.configs import embed_bundle, render_script  # noqa: E402
from scanner.browser import launch_chromium  # noqa: E402

SCRIPT = """(window.ran = window.ran || []).push({name});
for (var i = 0; i < 5; i++) {{
  var d = document.createElement('div'); d.textContent = {name} + ' ' + i;
  (document.body || document.documentElement).appendChild(d);
}}"""

MATCHED = ["stats", "ads"]  # path prefixes the rules name


def scripts() -> tuple[dict[str, bytes], str]:
    """The 30 scripts (files) and the HTML that loads them."""
    files: dict[str, bytes] = {}
    parsed, created = [], []
    for i in range(30):
        kind = MATCHED[i % 2] if i % 3 == 0 else "js"
        path = f"/{kind}/s{i}.js"
        files[path] = SCRIPT.format(name=json.dumps(f"s{i}")).encode()
        (parsed if i < 20 else created).append(path)
    html = "".join(f'<script src="{p}"></script>\n' for p in parsed)
    html += ("<script>(function (d) { var f = d.getElementsByTagName('script')[0];\n"
             + "".join(f"  var s = d.createElement('script'); s.async = true; s.src = '{p}';"
                       " f.parentNode.insertBefore(s, f);\n" for p in created)
             + "})(document);</script>")
    return files, html


def rules() -> list[dict[str, Any]]:
    own = [{"host": "127.0.0.1", "path": "/stats/", "purposes": ["statistics"]},
           {"host": "127.0.0.1", "path": "/ads/", "purposes": ["marketing"]}]
    other = [{"host": f"tracker{i}.example", "path": "" if i % 2 else "/px/",
              "purposes": ["statistics" if i % 3 else "marketing"]} for i in range(28)]
    return own + other


def variants(files: dict[str, bytes], body: str) -> list[Lib]:
    bundle = embed_bundle()
    plain = our_config()
    ruled = {**plain, "blocking": {"mode": "enforce", "rules": rules()}}
    out = [Lib("no tag", dict(files), [], "", body, "null")]
    for name, config in (("tag, no rules", plain), ("tag, rules", ruled)):
        slug = name.replace(", ", "-").replace(" ", "-")
        served = render_script(bundle, json.dumps(config, separators=(",", ":")).encode())
        out.append(Lib(name, {**files, f"/{slug}/cmp.js": served}, [],
                       f'<script src="/{slug}/cmp.js"></script>', body, "null"))
    return out


def consent_cookie(base: str) -> dict[str, Any]:
    config = our_config()
    now = int(time.time())
    value = {"consent_id": "00000000-0000-4000-8000-000000000000",
             "version": config["version"], "material_hash": config["material_hash"],
             "choices": {p["key"]: True for p in config["purposes"]}, "method": "accept_all",
             "created_at": now, "updated_at": now}
    return {"name": "cmp_consent", "value": quote(json.dumps(value, separators=(",", ":"))),
            "url": base + "/"}


async def load_time(browser: Browser, base: str, lib: Lib, consented: bool, cpu: float) -> float:
    context = await browser.new_context()
    try:
        if consented:
            await context.add_cookies([consent_cookie(base)])  # type: ignore[list-item]
        page = await context.new_page()
        if cpu != 1:
            cdp = await context.new_cdp_session(page)
            await cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu})
        await page.goto(f"{base}/{quote(lib.name)}/", wait_until="load")
        ran = await page.evaluate("(window.ran || []).length")
        want = 30 if consented or lib.name != "tag, rules" else 20
        if ran != want:
            raise RuntimeError(f"{lib.name}: {ran} scripts ran before load, expected {want}")
        t: float = await page.evaluate(
            "performance.getEntriesByType('navigation')[0].loadEventStart")
        return t
    finally:
        await context.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="loads per variant and visit")
    parser.add_argument("--cpu", type=float, default=1, help="CPU throttling rate (4: mobile)")
    args = parser.parse_args()
    files, body = scripts()
    libs = variants(files, body)
    tmp = tempfile.TemporaryDirectory()
    server, base = serve(libs, Path(tmp.name))
    visits = {"consented": True, "first": False}
    results: dict[str, dict[str, list[float]]] = {v: {lib.name: [] for lib in libs}
                                                  for v in visits}
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            for visit, consented in visits.items():
                for lib in libs:
                    await load_time(browser, base, lib, consented, args.cpu)
                for _ in range(args.runs):
                    for lib in libs:
                        results[visit][lib.name].append(
                            await load_time(browser, base, lib, consented, args.cpu))
        finally:
            await browser.close()
            server.terminate()
            server.wait()
            tmp.cleanup()
    print(f"\nAutomatic blocking: time to the load event, {args.runs} runs per row, medians; "
          f"CPU throttling {args.cpu:g}x; 30 scripts, 10 matched, {len(rules())} rules.\n")
    # Paired: each run's load over the tag-alone load of the same round (loaded right next to
    # it), then the median; steadier than a ratio of medians when the machine's load drifts.
    print("| visit | variant | load event (ms) | vs tag, no rules (medians) "
          "| vs tag, no rules (paired, median) |")
    print("|---|---|---:|---:|---:|")
    for visit in visits:
        alone = results[visit]["tag, no rules"]
        ref = statistics.median(alone)
        for lib in libs:
            runs = results[visit][lib.name]
            med = statistics.median(runs)
            paired = statistics.median(r / a for r, a in zip(runs, alone, strict=True))
            print(f"| {visit} | {lib.name} | {med:.1f} | {med / ref:.3f}x | {paired:.3f}x |")


if __name__ == "__main__":
    asyncio.run(main())
