"""Every admin request body bounded before anything parses it.

Starlette's form parser allows about a gigabyte per request (1,000 fields of 1 MB each): the
sign-in form, open to anyone, took the server from 83 MB to 700 MB before answering 403. This
middleware reads a body only up to ``limit`` bytes, refusing a larger one with 413 before the
first byte of it is parsed (at once when ``Content-Length`` says so, else as soon as the count
passes), and only within ``timeout`` seconds (408): a client trickling a byte at a time holds
no task for long. What it read is handed on as it came.
"""

from __future__ import annotations

import asyncio

from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int, timeout: float) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send, 413)
            return
        messages: list[Message] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    message = await receive()
                    messages.append(message)
                    if message["type"] != "http.request":
                        break  # the client went away: the app sees it as it came
                    size += len(message.get("body", b""))
                    if size > self.limit:
                        await self._refuse(scope, receive, send, 413)
                        return
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await self._refuse(scope, receive, send, 408)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int) -> None:
        text = (f"The form is larger than this admin takes ({self.limit // 1024} KB)."
                if status == 413 else "The form did not arrive in time.")
        # Closed after answering: the rest of the body is not read.
        headers = {"Connection": "close"}
        response: Response = PlainTextResponse(text, status, headers=headers)
        if "/api/v1/" in scope.get("path", ""):  # the JSON admin API answers in JSON
            code = "body_too_large" if status == 413 else "body_timeout"
            response = JSONResponse({"error": {"code": code, "message": text.replace(
                "form", "body"), "field": None}}, status, headers=headers)
        await response(scope, receive, send)
