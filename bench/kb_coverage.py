"""How much of the Open Cookie Database our own knowledge base classifies the same way.

    .venv/bin/python bench/kb_coverage.py      # reads ../shared/data/open-cookie-database.csv
    .venv/bin/python bench/kb_coverage.py FILE.csv --top 50 --missing 20

For every OCD row with a name and a category we map (the importer's mapping: Functional,
Necessary and Security are necessary), the builtin knowledge base alone is asked about the
name, on the row's own domain when it names one. A row counts as covered when our answer has
the same vendor (OCD's "Platform" equals our vendor's key, name or an alias, ignoring case and
punctuation) and the same category. Rows where we name the same vendor but another category
are counted apart, and so are those of them whose rule carries a ``category_note``: the
reason ours differs on purpose (OCD files Hotjar's recording cookies as Functional, say).
The figure is printed overall and for the platforms with the most rows, twice: by name alone,
and as a scan attributes a third-party cookie (by name, else by the vendor host it lives on:
``lidc`` on ``.linkedin.com`` is LinkedIn's whatever its name).
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from scanner.kb import KnowledgeBase, Match

OCD = Path(__file__).resolve().parents[2] / "shared/data/open-cookie-database.csv"
_CATEGORY = {
    "functional": "necessary", "necessary": "necessary", "security": "necessary",
    "personalization": "preferences", "analytics": "statistics", "marketing": "marketing",
}  # fmt: skip
_DOMAIN = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")


@dataclass(frozen=True)
class Row:
    platform: str
    name: str
    category: str
    domain: str | None


@dataclass(frozen=True)
class Verdict:
    row: Row
    outcome: str  # same, noted (category differs with a reason), category, vendor, unknown


def label(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


def read_rows(path: Path) -> list[Row]:
    rows = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for raw in csv.DictReader(handle):
            name = (raw["Cookie / Data Key name"] or "").strip().rstrip("*")
            category = _CATEGORY.get((raw["Category"] or "").strip().lower())
            if not name or category is None:
                continue
            host = re.sub(r"\(.*?\)", "", raw["Domain"] or "").strip().strip(".").lower()
            rows.append(Row(raw["Platform"].strip(), name, category,
                            host if _DOMAIN.fullmatch(host) else None))
    return rows


def lookup(kb: KnowledgeBase, row: Row) -> Match | None:
    where = row.domain or "www.example.com"
    return kb.match_cookie(row.name, where) or kb.match_storage("localStorage", row.name, where)


def judge(kb: KnowledgeBase, row: Row, by_host: bool = False) -> Verdict:
    found = lookup(kb, row)
    if found is not None and found.vendor is not None:
        vendor, category, note = found.vendor, found.category, found.category_note
    elif by_host and row.domain and (host_vendor := kb.match_host(row.domain)) is not None:
        vendor, category, note = host_vendor, host_vendor.category, ""
    else:
        return Verdict(row, "unknown")
    if label(row.platform) not in {label(x) for x in (vendor.key, vendor.name, *vendor.aliases)}:
        return Verdict(row, "vendor")
    if category == row.category:
        return Verdict(row, "same")
    return Verdict(row, "noted" if note else "category")


def share(verdicts: list[Verdict]) -> str:
    counts = Counter(v.outcome for v in verdicts)
    total = len(verdicts) or 1
    return (f"{counts['same'] / total:6.1%} same ({counts['same']}/{len(verdicts)}), "
            f"{counts['noted']} differ with a reason, {counts['category']} differ without, "
            f"{counts['vendor']} another vendor, {counts['unknown']} unknown")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", nargs="?", type=Path, default=OCD)
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument("--missing", type=int, default=0, help="list this many uncovered rows")
    args = parser.parse_args()
    kb = KnowledgeBase.builtin()
    rows = read_rows(args.csv)
    verdicts = [judge(kb, row) for row in rows]
    hosted = [judge(kb, row, by_host=True) for row in rows]
    by_platform: dict[str, list[Verdict]] = defaultdict(list)
    for verdict in verdicts:
        by_platform[verdict.row.platform].append(verdict)
    top = sorted(by_platform, key=lambda p: (-len(by_platform[p]), p))[: args.top]
    in_top = {p for p in top}
    print(f"knowledge base: {kb!r}")
    print("by name:")
    print(f"  all {len(verdicts)} rows:      {share(verdicts)}")
    print(f"  top {len(top)} platforms: {share([v for v in verdicts if v.row.platform in in_top])}")
    print("by name, else by the vendor host the cookie lives on:")
    print(f"  all {len(hosted)} rows:      {share(hosted)}")
    print(f"  top {len(top)} platforms: {share([v for v in hosted if v.row.platform in in_top])}")
    print(f"\n{'platform':<28} {'rows':>4} {'same':>5} {'noted':>5} {'other':>5}")
    for platform in top:
        group = by_platform[platform]
        counts = Counter(v.outcome for v in group)
        print(f"{platform[:28]:<28} {len(group):>4} {counts['same']:>5} {counts['noted']:>5} "
              f"{len(group) - counts['same'] - counts['noted']:>5}")
    if args.missing:
        print()
        for verdict in [v for v in verdicts if v.outcome not in ("same", "noted")][: args.missing]:
            r = verdict.row
            print(f"{verdict.outcome:<8} {r.platform[:24]:<24} {r.name:<40} {r.category}")


if __name__ == "__main__":
    main()
