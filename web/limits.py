"""Request limits of the web process: URL length, header size, body size; sign-ins per IP.

One ASGI middleware in front of every route, so no endpoint can forget them: a URL over
``web.max_url_bytes`` is answered 414, headers over ``web.max_header_bytes`` 431, a body over
its limit 413 (``web.max_body_bytes``, or a larger one for the paths that take files, such as
the CSV import). A body is refused by its ``Content-Length`` before it is read, and counted
while it is read otherwise (chunked uploads), so an oversized one is never held in memory.

:class:`SignInLimit` caps the sign-in attempts of one client address (``web.signin_rate``),
so that one machine cannot try passwords across many accounts: the per-account lockout
(:mod:`devices.accounts`) stops guessing at one account, not a sweep over all of them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """A request body over its limit.

    An ``HTTPException``, so FastAPI answers it as 413 wherever the body is being read
    (any other exception there becomes its 400 "error parsing the body").
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes / 요청이 너무 큽니다")
        self.limit = limit


class SignInThrottled(Exception):
    """Too many sign-in attempts from one address; ``retry_after`` seconds until the next."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many sign-in attempts; try again in {retry_after} s")
        self.retry_after = retry_after


class SignInLimit:
    """At most ``rate`` sign-in attempts per client address, in a moving window.

    Kept in the web process's memory (the ``limits`` library): one web process serves a
    deployment, and a restart forgetting the counts only gives an attacker a fresh window.
    The address is the connection's, or the proxy's ``X-Forwarded-For`` where uvicorn is
    told to trust that proxy (``--forwarded-allow-ips``).

    Args:
        rate: the limit in the ``limits`` notation, e.g. ``"20/minute"``.
    """

    def __init__(self, rate: str) -> None:
        self.rate = parse(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, request: Request) -> None:
        """Count one attempt of ``request``'s address.

        Raises:
            SignInThrottled: the address has used up its attempts for now.
        """
        address = request.client.host if request.client else "unknown"
        if not self._limiter.hit(self.rate, "signin", address):
            stats = self._limiter.get_window_stats(self.rate, "signin", address)
            raise SignInThrottled(max(1, math.ceil(stats.reset_time - time.time())))


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
