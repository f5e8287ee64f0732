"""`cmp-server serve` against slow and oversized request heads (``cmp_server/_serving.py``):
a real server, real sockets. uvicorn alone keeps a connection whose head trickles in (or never
comes) open for good."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from ._server import cli_env, free_port, serving

HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"


async def _trickle(port: int, give_up: float) -> str:
    """Send a request head a header line at a time, slower than it may arrive, until the
    server closes the connection ("closed") or ``give_up`` seconds pass ("open")."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    end = loop.time() + give_up
    writer.write(HEAD)
    try:
        n = 0
        while loop.time() < end:
            try:
                writer.write(b"X-Slow-%d: x\r\n" % n)
                await writer.drain()
                if await asyncio.wait_for(reader.read(1024), timeout=0.3) == b"":
                    return "closed"
            except TimeoutError:
                n += 1
            except (ConnectionResetError, BrokenPipeError):
                return "closed"
        return "open"
    finally:
        writer.close()


async def _silent(port: int, give_up: float) -> str:
    """Open a connection and send nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        data = await asyncio.wait_for(reader.read(1024), timeout=give_up)
        return "closed" if data == b"" else f"answered {data[:40]!r}"
    except TimeoutError:
        return "open"
    except ConnectionResetError:
        return "closed"
    finally:
        writer.close()


async def test_slow_heads_are_cut_off_and_real_requests_still_served(
    database_url: str, tmp_path: Path
) -> None:
    env = cli_env(database_url, tmp_path)
    env.update({"CMP_HEADER_TIMEOUT_SECONDS": "1", "CMP_MAX_CONNECTIONS": "40",
                "CMP_KEEP_ALIVE_SECONDS": "1", "CMP_MAX_HEADER_BYTES": "16384"})
    port = free_port()
    with serving(["serve"], env, port) as base:
        # Twenty slowloris connections and ten silent ones. Each would stay open for the whole
        # 30 s without a deadline on the head; the server closes them after about 1 s.
        attack = [asyncio.create_task(_trickle(port, 30)) for _ in range(20)]
        attack += [asyncio.create_task(_silent(port, 30)) for _ in range(10)]
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            # Served while the attack runs.
            for _ in range(5):
                assert (await client.get("/healthz")).status_code == 200
                await asyncio.sleep(0.2)
            assert await asyncio.gather(*attack) == ["closed"] * 30
            # A head past the size bound is refused with 431, without waiting for the rest.
            big = await client.get("/healthz", headers={"X-Big": "x" * 20_000})
            assert big.status_code == 431
            assert (await client.get("/healthz")).status_code == 200

        # A kept-alive connection left idle is closed (CMP_KEEP_ALIVE_SECONDS); so is one
        # whose next request's head stalls after its first line.
        for next_head in (b"", b"GET /healthz HTTP/1.1\r\n"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(HEAD + b"\r\n")
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            assert answer.startswith(b"HTTP/1.1 200")
            length = int(answer.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            writer.write(next_head)
            assert await asyncio.wait_for(reader.read(1024), timeout=20) == b""
            writer.close()
