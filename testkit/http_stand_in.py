"""A real HTTP server on localhost standing in for someone who receives our POSTs.

A care center's webhook endpoint, a voice-bot provider: the tests and the benchmarks each
decide what to record and which status to answer (``answer``); the server, its thread and
the reading of each request are written once here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, TypeVar


@dataclass
class Posted:
    """One POST as the stand-in received it.

    Attributes:
        path: the request's path.
        headers: its headers (names read case-insensitively).
        body: its body as sent.
        at: ``time.monotonic()`` when it arrived (for ordering and gaps).
        wall: ``time.time()`` when it arrived (to compare with another process's clock).
    """

    path: str
    headers: Message
    body: bytes
    at: float
    wall: float

    def json(self) -> Any:
        """The body read as JSON (``ValueError`` if it is not)."""
        return json.loads(self.body)


class HttpStandIn:
    """A threaded HTTP server that hands each POST to ``answer`` and replies its status.

    ``answer`` runs in the server's request thread (one per request), so it may block, e.g.
    to hold a delivery until the test lets it go; it must guard what it shares.

    Args:
        answer: what to do with a request; returns the HTTP status to reply with (the reply
            has an empty body).
        port: the port to listen on (0: any free port).
    """

    def __init__(self, answer: Callable[[Posted], int], port: int = 0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                wall, at = time.time(), time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = answer(Posted(self.path, self.headers, body, at, wall))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port: int = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        """The URL of ``path`` on the stand-in."""
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> HttpStandIn:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _Answering(Protocol):
    port: int

    def answer(self, posted: Posted) -> int: ...


Answering = TypeVar("Answering", bound=_Answering)


def serving(receiver: Answering) -> Iterator[Answering]:
    """Serve ``receiver.answer`` on a free port, set as ``receiver.port``, while iterated.

    For a pytest fixture: ``yield from serving(Receiver())``.
    """
    with HttpStandIn(receiver.answer) as server:
        receiver.port = server.port
        yield receiver
