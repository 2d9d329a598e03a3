"""How ``anbu web`` serves the application: uvicorn, with its HTTP/1.1 limits answered.

uvicorn's h11 protocol reads at most ``h11_max_incomplete_event_size`` bytes of request line
and headers (16 KiB by default), then writes a 400 and closes the socket with the rest of
the request unread, which the client's TCP stack reports as a reset. So the limit is raised
to ``web.max_request_head_bytes`` (1 MiB) and the application's own limits
(:mod:`web.limits`: 414, 431) answer anything between; past 1 MiB, :class:`_Protocol` answers
431 and reads what is still coming before it closes, so the client reads the answer too.
"""

from __future__ import annotations

import json
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from config import Settings

DRAIN_BYTES = 16 * 1024 * 1024
"""Most bytes of a refused request read (and dropped) before the connection is closed."""

DRAIN_SECONDS = 5.0
"""Longest wait for the client to finish sending a refused request."""


class _Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a request head over its limit 431 without a reset."""

    _draining = 0

    def send_400_response(self, msg: str) -> None:
        """Answer a request h11 could not read: 431 if its head was too long, else 400."""
        buffered = len(self.conn.trailing_data[0])
        limit = self.config.h11_max_incomplete_event_size or 0
        if buffered <= limit:
            super().send_400_response(msg)
            return
        body = json.dumps({"detail": f"request line and headers over {limit} bytes"}).encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\nconnection: close\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        self._draining = 1  # reads from now on are dropped (see data_received)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(DRAIN_SECONDS, self.transport.close)

    def data_received(self, data: bytes) -> None:
        """Pass data to h11, or drop it while a refused request is still arriving."""
        if self._draining:
            self._draining += len(data)
            if self._draining > DRAIN_BYTES:
                self.transport.close()
            return
        super().data_received(data)


def server_config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration ``anbu web`` serves ``app`` with (tests use it too)."""
    options: dict[str, Any] = {
        "host": settings.web.host, "port": settings.web.port, "log_level": "warning",
        "access_log": False, "http": _Protocol,
        "h11_max_incomplete_event_size": settings.web.max_request_head_bytes,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)
