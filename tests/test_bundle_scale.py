"""Issue 21's "an untouched bundle of 100,000 receipts verifies": the receipts stored by the
writer's own batch path (valid chains and texts hashes), one checkpoint run, the whole site's
bundle written (streamed) and checked by the offline verifier, in one process and in two.
Runs on SQLite and PostgreSQL, in CI (``slow``: deselect with ``-m "not slow"``)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from cmp_server.services import checkpoints, evidence, signing
from cmp_verify.bundle import read_bundle, verify

from .factories import chained_receipts, published_site

pytestmark = pytest.mark.slow

RECEIPTS = 100_000


async def test_an_untouched_bundle_of_100000_receipts_verifies(
    app: object, tmp_path: Path
) -> None:
    await signing.create_key(tmp_path / "signing-key.pem")
    signer = await signing.load_signer(tmp_path / "signing-key.pem")
    site, _ = await published_site()
    await chained_receipts(site, RECEIPTS)
    made = await checkpoints.take_checkpoints(signer)
    assert [c.tree_size for c in made] == [RECEIPTS]

    path = tmp_path / "site.zip"
    with path.open("wb") as out:
        written = await evidence.write_evidence(site, evidence.Selection(), out,
                                                public_url="https://cmp.example", name="b.zip")
    assert (written.receipts, written.pending, written.checkpoints) == (RECEIPTS, 0, 1)
    assert "leaves.txt" in zipfile.ZipFile(path).namelist()  # cheaper than 100,000 proofs

    for jobs in (1, 2):
        report = verify(read_bundle(path), jobs=jobs)
        assert report.ok, report.problems[:5]
        assert (report.receipts, report.proven, report.pending) == (RECEIPTS, RECEIPTS, 0)
        assert (report.chains, report.tree_size, report.checkpoints) == (RECEIPTS // 3, RECEIPTS, 1)
        assert list(report.keys) == [signer.key_id]
