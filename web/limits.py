"""Request limits of the web process: URL length, header size, body size.

One ASGI middleware in front of every route, so no endpoint can forget them: a URL over
``web.max_url_bytes`` is answered 414, headers over ``web.max_header_bytes`` 431, a body over
its limit 413 (``web.max_body_bytes``, or a larger one for the paths that take files, such as
the CSV import). A body is refused by its ``Content-Length`` before it is read, and counted
while it is read otherwise (chunked uploads), so an oversized one is never held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """A request body over its limit.

    An ``HTTPException``, so FastAPI answers it as 413 wherever the body is being read
    (any other exception there becomes its 400 "error parsing the body").
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes / 요청이 너무 큽니다")
        self.limit = limit


class RequestLimits:
    """ASGI middleware enforcing the limits above.

    Args:
        app: the application.
        max_body: the largest body, bytes.
        max_url: the longest path plus query string, bytes.
        max_headers: the most header bytes (names, values, and 4 bytes a line).
        body_limits: larger (or smaller) body limits by exact path.
    """

    def __init__(self, app: ASGIApp, *, max_body: int, max_url: int, max_headers: int,
                 body_limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_body = max_body
        self.max_url = max_url
        self.max_headers = max_headers
        self.body_limits = dict(body_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a request over a limit; pass the others on with a counting ``receive``."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        url = len(scope.get("raw_path") or scope["path"].encode()) + len(
            scope.get("query_string", b""))
        if url > self.max_url:
            await _answer(send, 414, f"URL longer than {self.max_url} bytes")
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if sum(len(k) + len(v) + 4 for k, v in headers) > self.max_headers:
            await _answer(send, 431, f"request headers larger than {self.max_headers} bytes")
            return
        limit = self.body_limits.get(scope["path"], self.max_body)
        for name, value in headers:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _answer(send, 400, "Content-Length is not a number")
                    return
                if declared > limit:
                    await _answer(send, 413, BodyTooLarge(limit).detail)
                    return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as exc:  # read outside of a route (its answer not yet begun)
            if started:
                raise
            await _answer(send, 413, exc.detail)


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of an unread body is not waited for
    ]
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
