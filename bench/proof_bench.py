"""Benchmark: signed checkpoints and evidence bundles (issue 21) on PostgreSQL.

    .venv/bin/python bench/proof_bench.py                    # 1 M receipts
    .venv/bin/python bench/proof_bench.py --rows 100000      # a smaller log
    .venv/bin/python bench/proof_bench.py --skip-writer      # only the log and the bundle

Its own database (``bench_proof``, never ``test``), brought up by the real migrations.

1. **Writer, checkpointing off and on, in one run**: the receipt writer (group commit, one
   lane, as the server runs it) fed by 64 concurrent submitters for ``--seconds`` per round,
   rounds off / on / on / off after a warm-up round. "On" takes a checkpoint every second
   (the default is every ten minutes: this is 600 times the default's work, so the cost
   shows).
2. **Checkpoint of ``--rows`` receipts**: that many receipts stored (valid record hashes,
   chains of three, real texts hashes; by COPY), then one ``take_checkpoints`` run appends all
   of them to the tree and signs.
3. **The whole site's evidence bundle**: written, streamed (seconds, bytes per receipt, peak
   memory), then checked by the offline verifier (``cmp_verify``: read, every check), which
   must pass: in a process of its own with one job (its peak memory), and with one per core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cmp_server import db  # noqa: E402
from cmp_server.models import ConfigVersion, ConsentReceipt  # noqa: E402
from cmp_server.schemas import ReceiptIn  # noqa: E402
from cmp_server.services import checkpoints, evidence, publishing, signing, sites  # noqa: E402
from cmp_server.services.configs import ConfigCache  # noqa: E402
from cmp_server.services.receipt_store import COLUMNS, NewReceipt  # noqa: E402
from cmp_server.services.receipts import draft_receipt, record_hash  # noqa: E402
from cmp_server.services.writer import ReceiptWriter  # noqa: E402
from cmp_verify.bundle import read_bundle, verify  # noqa: E402

UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/131.0.0.0 Safari/537.36")
CHOICES = {"necessary": True, "preferences": False, "statistics": True, "marketing": False}


async def _fresh(url: str) -> None:
    dsn = url.replace("postgres://", "postgresql://", 1)
    admin = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    name = dsn.rsplit("/", 1)[1]
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()
    await db.migrate(url)


def _body(consent_id: uuid.UUID) -> ReceiptIn:
    return ReceiptIn.model_validate({
        "receipt_id": str(uuid.uuid4()), "consent_id": str(consent_id), "config_version": 1,
        "choices": CHOICES, "method": "custom", "layer": "second", "language": "sv",
        "page_url": "https://www.shop.example/kurser",
    })


async def _writer_round(published: Any, seconds: float, checkpointing: bool,
                        signer: signing.Signer) -> tuple[float, int]:
    writer = ReceiptWriter(512, 1)
    await writer.start()
    done = 0
    stop = time.monotonic() + seconds
    taken = 0

    async def submitter() -> None:
        nonlocal done
        while time.monotonic() < stop:
            draft = draft_receipt(_body(uuid.uuid4()), published, user_agent=UA,
                                  client_ip="192.0.2.7")
            await writer.submit(draft)
            done += 1

    async def checkpointer() -> None:
        nonlocal taken
        while time.monotonic() < stop:
            await asyncio.sleep(1.0)
            taken += len(await checkpoints.take_checkpoints(signer))

    started = time.monotonic()
    tasks = [asyncio.create_task(submitter()) for _ in range(64)]
    if checkpointing:
        tasks.append(asyncio.create_task(checkpointer()))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - started
    await writer.stop()
    return done / elapsed, taken


async def _load(site: Any, rows: int) -> None:
    """``rows`` receipts, chains of three, with valid record and texts hashes, by COPY."""
    version = await ConfigVersion.get(site_id=site.id, number=1)
    texts_hash = version.text_hashes["sv"]
    start = datetime.now(UTC)  # after the last checkpoint: not backdated
    conn = await asyncpg.connect(_URL.replace("postgres://", "postgresql://", 1))
    try:
        batch: list[tuple[Any, ...]] = []
        last: dict[int, tuple[uuid.UUID, str]] = {}
        visitors = max(1, rows // 3)
        for n in range(rows):
            visitor = n % visitors
            previous = last.get(visitor)
            at = start + timedelta(microseconds=n)
            row = NewReceipt(
                receipt_id=uuid.uuid4(), consent_id=uuid.UUID(int=visitor + 1), site_id=site.id,
                config_version=1, texts_hash=texts_hash, language="sv", choices=CHOICES,
                method="custom", layer="second", page_url="https://www.shop.example/kurser",
                recorded_at=at, expires_at=at + timedelta(days=180), user_agent=UA,
                ip_truncated="192.0.2.0",
                previous_receipt_id=previous[0] if previous else None,
                content_hash="c" * 64,
            )
            row.record_hash = record_hash(row, site.key, previous[1] if previous else "")
            last[visitor] = (row.receipt_id, row.record_hash)
            batch.append(tuple(
                _json(getattr(row, c)) if c == "choices" else getattr(row, c) for c in COLUMNS))
            if len(batch) == 50_000 or n == rows - 1:
                await conn.copy_records_to_table("consent_receipt", records=batch,
                                                 columns=list(COLUMNS))
                batch = []
        # What autovacuum does soon after such a load (on a busy machine it may not have
        # yet): without statistics the planner's guesses make every page a scan.
        await conn.execute("ANALYZE consent_receipt")
    finally:
        await conn.close()


def _peak_rss() -> float:
    """This process's peak resident memory so far, MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


_URL = ""


async def main() -> None:
    global _URL
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--pairs", type=int, default=1,
                        help="times the writer's off / on / on / off rounds are run")
    parser.add_argument("--skip-writer", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the checkpoint run (the top 25 by own time)")
    parser.add_argument("--url", default="postgres://postgres@127.0.0.1:5432/bench_proof")
    args = parser.parse_args()
    _URL = args.url
    await _fresh(args.url)
    await db.open_database(args.url, run_migrations=False)
    keys = Path(tempfile.mkdtemp(prefix="proof-bench-"))
    try:
        await signing.create_key(keys / "signing-key.pem")
        signer = await signing.load_signer(keys / "signing-key.pem")
        site = await sites.create_site("Bench", ["shop.example"], force=True)
        await publishing.publish(site)
        published = await ConfigCache(0).latest(site.key)
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")

        if not args.skip_writer:
            print(f"1. writer, {args.seconds:.0f} s rounds, 64 submitters, one lane")
            rates: dict[bool, list[float]] = {False: [], True: []}
            # A first round, not counted (it ran alone on an empty table, several times the
            # later rounds' rate in every run), then off / on / on / off: a drift in time
            # (the table growing, the machine's other load) weighs on both alike.
            rate, _ = await _writer_round(published, args.seconds, False, signer)
            print(f"   warm-up (not counted): {rate:8.0f} receipts/s")
            for checkpointing in (False, True, True, False) * args.pairs:
                rate, taken = await _writer_round(published, args.seconds, checkpointing,
                                                  signer)
                rates[checkpointing].append(rate)
                print(f"   checkpointing {'on ' if checkpointing else 'off'}: {rate:8.0f}"
                      f" receipts/s" + (f" ({taken} checkpoints)" if checkpointing else "")
                      + f", load {os.getloadavg()[0]:.1f}")
            off = sum(rates[False]) / len(rates[False])
            on = sum(rates[True]) / len(rates[True])
            print(f"   on/off: {on / off:.3f} ({(1 - on / off) * 100:+.1f} % fewer;"
                  " goal: at most 5 % fewer)")
            await checkpoints.take_checkpoints(signer)

        before = await ConsentReceipt.filter(site_id=site.id).count()
        t = time.monotonic()
        await _load(site, args.rows)
        print(f"2. {args.rows:,} receipts stored by COPY in {time.monotonic() - t:.1f} s")
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        t = time.monotonic()
        cpu = time.process_time()
        made = await checkpoints.take_checkpoints(signer)
        took = time.monotonic() - t
        cpu = time.process_time() - cpu
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        print(f"   one checkpoint run appended {args.rows:,} receipts and signed in"
              f" {took:.1f} s ({args.rows / took:,.0f} receipts/s); tree size"
              f" {made[0].tree_size:,}; this process's CPU {cpu:.1f} s"
              f" ({cpu / args.rows * 1e6:.0f} us a receipt)")

        path = keys / "bundle.zip"
        rss = _peak_rss()
        t = time.monotonic()
        with path.open("wb") as out:
            await evidence.write_evidence(site, evidence.Selection(), out,
                                          public_url="https://cmp.example", name="b.zip")
        took = time.monotonic() - t
        size = path.stat().st_size
        total = before + args.rows
        print(f"3. whole-site bundle of {total:,} receipts: {took:.1f} s to write (streamed),"
              f" {size / 1e6:.1f} MB, {size / total:.0f} bytes per receipt; peak RSS"
              f" {rss:.0f} MB before, {_peak_rss():.0f} MB after")
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        for jobs in (1, None):
            t = time.monotonic()
            if jobs == 1 and not args.profile:
                # In a process of its own, as a regulator runs it: its peak memory shows.
                import subprocess

                # Its peak memory from the kernel's own count for its process (VmHWM; the
                # rusage of a child counts the pages of the parent it was forked from).
                script = ("import sys; from cmp_verify.cli import main; code = main(sys.argv[1:]);"
                          " print([l for l in open('/proc/self/status')"
                          " if l.startswith('VmHWM')][0], file=sys.stderr); sys.exit(code)")
                done = subprocess.run([sys.executable, "-c", script, "--jobs", "1", str(path)],
                                      capture_output=True, text=True, cwd=ROOT, check=False)
                took = time.monotonic() - t
                peak = int(done.stderr.split()[-2]) / 1024
                print(f"   cmp-verify --jobs 1: {took:.1f} s ({total / took:,.0f} receipts/s),"
                      f" exit {done.returncode}, peak RSS {peak:.0f} MB")
                continue
            report = verify(read_bundle(path), jobs=jobs)
            took = time.monotonic() - t
            print(f"   cmp-verify, {jobs or os.cpu_count()} processes: {took:.1f} s"
                  f" ({total / took:,.0f} receipts/s; goal for 1 M: under 60 s):"
                  f" {'VERIFIED' if report.ok else 'FAILED'}"
                  f" ({report.proven:,} proven, {len(report.problems)} problems)")
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        for problem in report.problems[:5]:
            print(f"     {problem}")
    finally:
        await db.close_database()
        for leftover in keys.iterdir():
            leftover.unlink()
        keys.rmdir()


if __name__ == "__main__":
    asyncio.run(main())
