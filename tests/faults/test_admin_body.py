"""Oversized admin forms against a real server under receipt load (admin/_limits.py): a body
declared too large and bodies streamed without end, to the sign-in form anyone can reach, are
refused with 413 after at most the limit is read; the server's memory does not follow what
was sent, receipts go on being acknowledged, and it serves at once afterwards."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ._harness import (
    Load,
    Server,
    assert_every_acked_receipt_stored,
    create_site,
    fault_env,
    one_receipt,
)

LIMIT = 1024 * 1024  # CMP_ADMIN_MAX_BODY_BYTES
STREAM = 64 * 1024 * 1024  # what each oversized client tries to send


async def _declared(port: int) -> bytes:
    """A form declaring 600 MB: refused on its headers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"POST /admin/login HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: 600000000\r\n\r\n" + b"a=" + b"x" * 4096)
        await writer.drain()
        return await asyncio.wait_for(reader.read(200), timeout=30)
    finally:
        writer.close()


async def _streamed(port: int) -> tuple[bytes, int]:
    """A chunked form of 64 MB, sent until the server answers or stops reading. Returns the
    answer's start and how many bytes went out."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    chunk = b"x" * 65536
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    try:
        writer.write(b"POST /admin/login HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\na=\r\n" % 2)
        while sent < STREAM:
            writer.write(framed)
            try:
                await asyncio.wait_for(writer.drain(), timeout=5)
            except (TimeoutError, ConnectionError):
                break  # the server stopped reading, or closed the connection
            sent += len(chunk)
        try:
            answer = await asyncio.wait_for(reader.read(200), timeout=30)
        except ConnectionError:
            answer = b""
        return answer, sent
    finally:
        writer.close()


async def test_oversized_admin_forms_are_refused_without_memory_growing(tmp_path: Path) -> None:
    env = fault_env(f"sqlite://{tmp_path / 'cmp.sqlite3'}", tmp_path)
    key = create_site(env)
    server = Server(env)
    server.start()
    try:
        await server.serving()
        load = Load(server.base, key, visitors=5, each=20)
        running = asyncio.create_task(load.run())
        await load.until_acked(10)
        before = server.rss_mb()
        declared = await asyncio.gather(*(_declared(server.port) for _ in range(10)))
        streamed = await asyncio.gather(*(_streamed(server.port) for _ in range(20)))
        after = server.rss_mb()
        async with asyncio.timeout(120):
            await running
        print(f"oversized forms: RSS {before:.0f} MB before, {after:.0f} MB after;"
              f" streamed {sum(s for _, s in streamed) / 2**20:.0f} MB in all")
        assert all(a.startswith(b"HTTP/1.1 413") for a in declared), declared
        for answer, sent in streamed:
            # Refused once the limit passed: 413, or the connection closed on it. Never all
            # 64 MB read.
            assert answer.startswith(b"HTTP/1.1 413") or answer == b"", answer
            assert sent < STREAM
        # Twenty 64 MB bodies, bounded to about the limit each: memory does not follow.
        assert after - before < 100, (before, after)
        assert (await server.serving(within=5)) < 5
        assert await one_receipt(server.base, key) == 201
        await assert_every_acked_receipt_stored(server.base, load)
        assert len(load.acked) == 5 * 20
    finally:
        server.stop()
