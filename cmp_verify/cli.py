"""``cmp-verify BUNDLE.zip``: check an evidence bundle offline and say what it proves.

Exit status: 0 when every check passed, 1 when one failed (each failure is named: the receipt,
checkpoint or key, and the check), 2 when the file is not a bundle that can be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .bundle import BundleError, Report, read_bundle, verify

__all__ = ["main", "summary"]


def summary(report: Report) -> str:
    lines = [f"Evidence bundle of site {report.site}"]
    lines.append(f"  {report.receipts} receipts of {report.chains} visitors"
                 + (f", recorded {report.first} to {report.last}" if report.receipts else ""))
    lines.append(f"  {report.proven} proven to be in the site's signed log (a tree of"
                 f" {report.tree_size} receipts, {report.checkpoints} checkpoints)"
                 + (f"; {report.pending} stored after the last checkpoint, not yet proven"
                    if report.pending else ""))
    if report.purged:
        lines.append(f"  {report.purged} receipts of the period were purged by retention")
    for kid, print_ in sorted(report.keys.items()):
        lines.append(f"  signed by key {kid} (SHA-256 fingerprint {print_})")
    if report.ok:
        lines.append("VERIFIED: every receipt's hash, every visitor's chain, every inclusion"
                     " proof, every checkpoint's signature and consistency, and the texts each"
                     " receipt was given on.")
    else:
        lines.append(f"FAILED: {len(report.problems)} problem(s)")
        lines.extend(f"  {problem}" for problem in report.problems)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cmp-verify", description="Check a consent evidence bundle, offline.")
    parser.add_argument("bundle", help="the bundle (.zip) the server exported")
    parser.add_argument(
        "--trust", action="append", default=[], metavar="FINGERPRINT",
        help="a signing key's SHA-256 fingerprint known from elsewhere (the site's /v1/keys,"
             " a witness's copy); given, only keys it introduced are accepted")
    parser.add_argument(
        "--jobs", type=int, default=None, metavar="N",
        help="processes checking the receipts side by side (default: one per core, at most"
             " 8, for a bundle of 50,000 receipts or more)")
    args = parser.parse_args(argv)
    try:
        bundle = read_bundle(args.bundle)
    except BundleError as exc:
        print(f"cmp-verify: {exc}", file=sys.stderr)
        return 2
    try:
        report = verify(bundle, trusted=[t.lower().removeprefix("sha256:") for t in args.trust],
                        jobs=args.jobs)
    except BundleError as exc:
        print(f"cmp-verify: {exc}", file=sys.stderr)
        return 2
    print(summary(report))
    return 0 if report.ok else 1


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
