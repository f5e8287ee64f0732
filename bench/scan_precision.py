"""Precision of the scanner on the test fixture sites, against what each fixture really sets.

    .venv/bin/python bench/scan_precision.py            # every fixture site
    PYTHONPATH=/tmp/old .venv/bin/python bench/scan_precision.py --scanner /tmp/old  # another tree

Runs the fixture sites of ``tests/scanner/sites.py`` on the local FakeWeb server (no internet)
with all three passes and compares the report with ``TRUTH``: the items the browser keeps on
each site (written from the fixtures' design, checked against Chromium's jar) and the true
category of each. It prints, per site and overall:

* item precision: reported items that exist / reported items;
* violation precision: reported violations whose item (or tracker) is truly non-necessary and
  seen in that pass / reported violations;
* review: possible violations listed apart (an unclassified item before consent or after
  reject); each is counted, not judged: classifying it is the reviewer's job.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# site -> {(kind, name, domain): true category}; requests -> {host: category}.
# Items on ".test" or ".se" alone never exist: Chromium refuses a public-suffix Domain.
TRUTH: dict[str, dict[tuple[str, str, str], str]] = {
    "www.shop.test": {
        ("cookie", "PHPSESSID", "www.shop.test"): "necessary",
        ("cookie", "cmp_consent", "www.shop.test"): "necessary",
        ("cookie", "_ga", ".shop.test"): "statistics",
        ("cookie", "_ga_ABC123", ".shop.test"): "statistics",
        ("cookie", "_fbp", ".shop.test"): "marketing",
        ("cookie", "fr", ".facebook.com"): "marketing",
    },
    "www.news.test": {
        ("cookie", "_ga", ".news.test"): "statistics",
        ("cookie", "_ga_ABC123", ".news.test"): "statistics",
        ("cookie", "YSC", ".youtube.com"): "marketing",
        ("cookie", "VISITOR_INFO1_LIVE", ".youtube.com"): "marketing",
        ("cookie", "cmplz_marketing", "www.news.test"): "necessary",
        ("cookie", "cmplz_banner-status", "www.news.test"): "necessary",
        ("cookie", "_fbp", ".news.test"): "marketing",
        ("cookie", "fr", ".facebook.com"): "marketing",
        ("localStorage", "yt-remote-device-id", "www.youtube.com"): "marketing",
        ("sessionStorage", "yt-remote-session-app", "www.youtube.com"): "marketing",
        ("indexedDB", "YtIdbMeta", "www.youtube.com"): "marketing",
    },
    "www.kafe.test": {
        ("cookie", "kafe_consent", "www.kafe.test"): "necessary",
        ("cookie", "_hjTLDTest", ".kafe.test"): "statistics",
        ("cookie", "_hjSessionUser_123", ".kafe.test"): "statistics",
        ("localStorage", "_hjUserAttributes", "www.kafe.test"): "statistics",
    },
    "www.bistro.test": {
        ("cookie", "bistro_consent", "www.bistro.test"): "necessary",
        ("cookie", "_ga", ".bistro.test"): "statistics",
        ("cookie", "_ga_ABC123", ".bistro.test"): "statistics",
    },
    "www.fjord.test": {
        ("cookie", "fjord_consent", "www.fjord.test"): "necessary",
        ("cookie", "_ga", ".fjord.test"): "statistics",
        ("cookie", "_ga_ABC123", ".fjord.test"): "statistics",
    },
    "www.hostile.test": {
        ("cookie", "zz_theme", "www.hostile.test"): "preferences",
        ("localStorage", "zz_cart", "www.hostile.test"): "necessary",
    },
    "www.butik.se": {
        ("cookie", "_ga", ".butik.se"): "statistics",
        ("cookie", "_ga_ABC123", ".butik.se"): "statistics",
        ("cookie", "butik_sess", "www.butik.se"): "necessary",
        ("cookie", "BIGipServer~butik~pool_web", "www.butik.se"): "necessary",
        ("cookie", "butik_valuta", "www.butik.se"): "preferences",
        ("localStorage", "butik_cart", "www.butik.se"): "necessary",
        ("cookie", "cookiehub", ".butik.se"): "necessary",
    },
}
TRACKERS = {
    "region1.google-analytics.com": "statistics", "www.googletagmanager.com": "statistics",
    "www.facebook.com": "marketing", "connect.facebook.net": "marketing",
    "www.youtube.com": "marketing", "static.hotjar.com": "statistics",
    "consent.cmp.test": "necessary", "cdn.cookiehub.eu": "necessary",
}  # fmt: skip


def judge(site: str, report: object) -> dict[str, int]:
    truth = TRUTH[site]
    items = {(i.kind, i.name, i.domain): i for i in report.items}  # type: ignore[attr-defined]
    true_items = [k for k in items if k in truth]
    for key in sorted(set(items) - set(truth)):
        print(f"  {site}: not there, reported: {key}")
    for key in sorted(set(truth) - set(items)):
        print(f"  {site}: there, missed: {key}")
    violations = report.violations  # type: ignore[attr-defined]
    true_violations = 0
    for v in violations:
        if v.kind == "request":
            real = TRACKERS.get(v.name, "unknown")
        else:
            real = truth.get((v.kind, v.name, v.domain), "absent")
        true_violations += real in ("preferences", "statistics", "marketing")
    return {
        "items": len(items), "true_items": len(true_items), "truth": len(truth),
        "violations": len(violations), "true_violations": true_violations,
        "review": len(getattr(report, "review", ())),
        "refused": len(getattr(report, "refused_writes", ())),
    }


async def run(sites: list[str]) -> None:
    sys.path.append(str(ROOT))  # after a --scanner tree, which must win
    from scanner import ScanOptions, scan_site
    from tests.scanner.fakeweb import FakeWeb
    from tests.scanner.sites import install_all

    web = FakeWeb().start()
    install_all(web)
    total: dict[str, int] = {}
    print(f"{'site':<18} {'items':>5} {'true':>4} {'item prec':>9} {'viol':>4} {'true':>4} "
          f"{'viol prec':>9} {'review':>6} {'refused':>7}")
    try:
        for site in sites:
            options = ScanOptions(
                start_url=web.url(site), max_pages=5, concurrency=2, settle=1.6,
                idle_timeout=2, consent_timeout=5, ignore_https_errors=True,
                browser_args=web.browser_args, use_sitemap=site == "www.shop.test",
            )
            counts = judge(site, await scan_site(options))
            for key, value in counts.items():
                total[key] = total.get(key, 0) + value
            _row(site, counts)
    finally:
        web.stop()
    _row("all", total)


def _row(site: str, c: dict[str, int]) -> None:
    item_p = c["true_items"] / c["items"] if c["items"] else 1.0
    viol_p = c["true_violations"] / c["violations"] if c["violations"] else 1.0
    print(f"{site:<18} {c['items']:>5} {c['true_items']:>4} {item_p:>9.3f} {c['violations']:>4} "
          f"{c['true_violations']:>4} {viol_p:>9.3f} {c['review']:>6} {c['refused']:>7}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scanner", type=Path, default=None,
                        help="a tree whose scanner/ package to measure instead of this one's")
    parser.add_argument("sites", nargs="*", default=list(TRUTH))
    args = parser.parse_args()
    if args.scanner is not None:
        sys.path.insert(0, str(args.scanner.resolve()))
    asyncio.run(run(args.sites))


if __name__ == "__main__":
    main()
