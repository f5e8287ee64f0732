"""``verify-receipts``' proof half (issue 21): the offline verifier's own checks
(``cmp_verify.bundle.verify``) run on everything stored for a site, and the checks only the
database allows: every stored checkpoint's root against the stored leaves, and no receipt
stored behind the log (a receipt without a tree position among receipts that have one).
"""

from __future__ import annotations

import tempfile
import zipfile

from cmp_verify.bundle import POSITION, Report, read_bundle, verify

from ..models import ConsentReceipt, ReceiptLeaf, Site
from .evidence import Selection, write_evidence

__all__ = ["audit_site"]


async def audit_site(site: Site) -> Report:
    # The whole site's bundle, written (uncompressed) to a file and read back as the
    # verifier reads one: a line at a time, so memory holds a page, not the site.
    with tempfile.NamedTemporaryFile(suffix=".zip") as spool:
        await write_evidence(site, Selection(), spool, public_url="", name="audit.zip",
                             whole_tree=True, compression=zipfile.ZIP_STORED)
        spool.flush()
        report = verify(read_bundle(spool.name))
    # Receipts the log passed over: stored under an id the sequencer had already gone past,
    # which the writer never does (a row put in by hand, backdated or not).
    rows = await ReceiptLeaf.all().order_by("-receipt_pk").limit(1).values_list("receipt_pk")
    logged_up_to = int(rows[0][0]) if rows else 0
    behind = await (ConsentReceipt.filter(site_id=site.id, id__lte=logged_up_to)
                    .values_list("id", "receipt_id"))
    in_tree = {pk for (pk,) in await ReceiptLeaf.filter(site_id=site.id).values_list(
        "receipt_pk")}
    for pk, receipt_id in behind:
        if pk not in in_tree:
            report.add(f"receipt {receipt_id}", POSITION,
                       "stored behind the log: receipts stored after it are in the tree and it"
                       " is not (inserted by hand? backdated?)")
    return report
