"""The one table from anbu's errors to HTTP answers, and the route class that applies it.

The JSON routers of the web app (``devices.api``, ``web.dashboards.api``) use
:class:`ErrorRoute`, and ``alerts.api`` takes its statuses from :func:`status_for`: an error
of a kind in :data:`STATUS` (see ``anbu.errors``) becomes a JSON
answer ``{"detail": str(error), **error.http_fields()}`` with that kind's status; any other
exception goes on to FastAPI. A route class rather than an app exception handler: the
routers are also mounted alone (tests, tools), and the app's start-up hooks run after its
middleware stack is built, too late to add handlers.

It sits in the kernel, beside ``anbu.errors``, so that every package can use it without
importing the web package above it; nothing on the command line's path imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from anbu.errors import (
    AnbuError,
    ConflictKind,
    ForbiddenKind,
    InvalidKind,
    NotFoundKind,
    UnavailableKind,
)

STATUS: dict[type[AnbuError], int] = {
    NotFoundKind: status.HTTP_404_NOT_FOUND,
    ForbiddenKind: status.HTTP_403_FORBIDDEN,
    ConflictKind: status.HTTP_409_CONFLICT,
    InvalidKind: status.HTTP_422_UNPROCESSABLE_CONTENT,
    UnavailableKind: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def status_of(error: BaseException) -> int | None:
    """The HTTP status for ``error``'s kind; None for an error the table does not know."""
    try:
        return status_for(type(error))
    except KeyError:
        return None


def status_for(kind: type[BaseException]) -> int:
    """The HTTP status for errors of class ``kind`` (for a route that words its own answer).

    Raises:
        KeyError: ``kind`` is of no kind in :data:`STATUS`.
    """
    for cls in kind.__mro__:
        if cls in STATUS:
            return STATUS[cls]
    raise KeyError(kind.__name__)


def answer(error: AnbuError, code: int) -> JSONResponse:
    """The JSON answer for ``error``: its message and the fields it adds (a bad field, ...)."""
    fields = getattr(error, "http_fields", None)
    extra: dict[str, Any] = fields() if callable(fields) else {}
    return JSONResponse({"detail": str(error), **extra}, code)


class ErrorRoute(APIRoute):
    """Answers the errors of :data:`STATUS` as JSON with their status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler."""
        handler = super().get_route_handler()

        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except AnbuError as exc:
                code = status_of(exc)
                if code is None:
                    raise
                return answer(exc, code)

        return wrapped
