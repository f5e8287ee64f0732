"""SQLite on a full disk under receipt load: the database lives on a small tmpfs of its own,
a file then takes every free byte. Receipts are answered 503 (try again), never a 500; the
server keeps running; once the file is gone receipts are acknowledged again, and every one
acknowledged, before, during and after, is stored.

Needs root to mount the tmpfs (CI runs as root). Elsewhere it is skipped, saying so: an
unprivileged user has no size-limited file system to make without one."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._harness import (
    Load,
    Server,
    assert_every_acked_receipt_stored,
    create_site,
    fault_env,
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"this machine cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    """A file taking every free byte of ``disk``."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 4096, 1):  # then the last few bytes, to leave none
            block = b"\0" * size
            try:
                while True:
                    os.write(fd, block)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


async def test_sqlite_on_a_full_disk_answers_503_and_recovers(
    small_disk: Path, tmp_path: Path
) -> None:
    env = fault_env(f"sqlite://{small_disk / 'cmp.sqlite3'}", tmp_path)
    key = create_site(env)
    server = Server(env)
    server.start()
    try:
        await server.serving()
        load = Load(server.base, key, visitors=10, each=30)
        running = asyncio.create_task(load.run())
        await load.until_acked(40)
        filler = await asyncio.to_thread(_fill, small_disk)
        full = time.monotonic()
        # The fault holds until receipts are refused (the last batches in the WAL's free
        # pages may still go in), for a while longer.
        async with asyncio.timeout(60):
            while not any(s == 503 and t > full for t, s in load.answers):
                await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        acked_while_full = len(load.acked)
        filler.unlink()  # the fault ends
        freed = time.monotonic()
        async with asyncio.timeout(120):
            await running
        again = load.first_201_after(freed)
        print(f"full disk: statuses {dict(load.statuses)}; {acked_while_full} acknowledged"
              f" when space came back; first 201 {again:.2f} s after it came back")
        assert server.proc is not None and server.proc.poll() is None  # never went down
        assert again is not None and again < 30
        assert len(load.acked) == 10 * 30
        await assert_every_acked_receipt_stored(server.base, load)
    finally:
        server.stop()
