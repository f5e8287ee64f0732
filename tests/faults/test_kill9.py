"""`kill -9` of `cmp-server serve` under receipt load, and a restart on the same port at once
(as a supervisor does): the port is free at once (SO_REUSEADDR), every receipt acknowledged
before the kill is stored, and the receipts cut by the kill are stored once sent again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ._harness import (
    Load,
    Server,
    assert_every_acked_receipt_stored,
    create_site,
    fault_env,
)


async def test_a_restart_right_after_kill_9_under_receipt_load(tmp_path: Path) -> None:
    env = fault_env(f"sqlite://{tmp_path / 'cmp.sqlite3'}", tmp_path)
    key = create_site(env)
    server = Server(env)
    server.start()
    try:
        await server.serving()
        load = Load(server.base, key, visitors=10, each=20)
        running = asyncio.create_task(load.run())
        await load.until_acked(60)
        before = dict(load.acked)
        server.kill9()  # mid-load: requests in flight are cut
        server.start()  # the same port, at once
        took = await server.serving()
        print(f"kill -9: serving again {took:.2f} s after the restart began;"
              f" {load.transport_errors} requests cut or refused")
        async with asyncio.timeout(120):
            await running
        assert "already in use" not in server.output()
        assert set(before) <= set(load.acked)
        assert len(load.acked) == 10 * 20
        await assert_every_acked_receipt_stored(server.base, load)
    finally:
        server.stop()
