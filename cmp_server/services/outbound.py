"""Requests we send to an address a site owner named (webhooks): to public addresses only,
unless the operator allows private ones (``CMP_ALLOW_PRIVATE_SCAN_TARGETS``, the scans' rule).

The check is made on the address we connect to, after resolving, in the connection itself
(httpcore's network backend): a name that resolved to a public address when the endpoint was
saved and to 127.0.0.1 now (DNS rebinding) is refused then. Redirects are not followed, and
the answer is read up to a bound and no further.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore

from scanner.errors import UnresolvableTargetError
from scanner.targets import first_not_public, resolve

__all__ = ["Answer", "Refused", "post"]

EXCERPT_BYTES = 2048


class Refused(Exception):
    """The target is an address we may not send to."""


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (refused, unreachable, timed out)
    excerpt: str
    duration_ms: int
    error: str | None = None


class _PublicOnly(httpcore.AsyncNetworkBackend):
    """Resolves the host itself and connects to an address it checked."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except UnresolvableTargetError as exc:
            raise Refused(str(exc)) from None
        if not self._allow_private and (refused := first_not_public(addresses)) is not None:
            raise Refused(f"{host} resolves to {refused}, which is not a public address")
        return await self._inner.connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address,
            socket_options=socket_options,
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def post(
    url: str, body: bytes, headers: dict[str, str], *, allow_private: bool, timeout: float = 10.0
) -> Answer:
    """POST ``body`` to ``url`` and say what came back; never raises for the target's doing."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    pool = httpcore.AsyncConnectionPool(network_backend=_PublicOnly(allow_private),
                                        max_connections=1, retries=0)
    try:
        async with pool:
            extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout,
                                      "pool": timeout}}
            async with asyncio.timeout(timeout * 2):
                async with pool.stream(
                    "POST", url, headers=[*headers.items(), ("Content-Length", str(len(body)))],
                    content=body, extensions=extensions,
                ) as response:
                    excerpt = b""
                    async for chunk in response.aiter_stream():
                        excerpt += chunk
                        if len(excerpt) >= EXCERPT_BYTES:
                            break
            text = excerpt[:EXCERPT_BYTES].decode("utf-8", "replace")
            return Answer(response.status, text, took())
    except Refused as exc:
        return Answer(None, "", took(), f"refused: {exc}")
    except TimeoutError:
        return Answer(None, "", took(), f"no answer within {timeout:g} s")
    except httpcore.TimeoutException as exc:
        return Answer(None, "", took(), f"timed out ({type(exc).__name__})")
    except (httpcore.UnsupportedProtocol, httpcore.LocalProtocolError) as exc:
        return Answer(None, "", took(), f"not a URL we can send to: {exc}")
    except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as exc:
        return Answer(None, "", took(), f"{type(exc).__name__}: {exc}"[:300])
