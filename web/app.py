"""The one FastAPI application behind ``anbu web``.

Each package contributes a module with an ``APIRouter`` named ``router`` and, optionally,
``async def startup(app, settings)`` and ``async def shutdown(app)`` hooks, and
``body_limits(settings)``: the paths that take a larger body than ``web.max_body_bytes``.
Routers are mounted in the order of :data:`ROUTER_MODULES`, imported plainly (the app mounts
them all, so a lazy import would save nothing and hide the graph from readers and from
``tests/test_architecture.py``).

Every request passes :class:`~web.limits.RequestLimits` (413, 414, 431), and a request that
fails validation is answered 422 with the problems listed, also when the bad value is a
number JSON cannot write back (``1e999`` reads as infinity; ``NaN``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import alerts.api
import devices.api
import web.accounts
import web.dashboards
import web.household
import web.install
import web.review
from config import Settings
from web.accounts import AuditTrail
from web.limits import RequestLimits

log = logging.getLogger(__name__)

ROUTER_MODULES: list[ModuleType] = [
    devices.api,  # installer API: /api/v1/centers, /households, /devices, ... (issue 4)
    alerts.api,  # care-center inbox: /inbox, /api/v1/alerts (issue 6)
    web.household,  # the household page an alert links to: /inbox/households/{id} (17)
    web.review,  # the weekly review, a center's visit plan: /inbox/centers/{id}/review (18)
    web.dashboards,  # operator dashboards: /, /households/{id}, /devices (issue 7)
    web.accounts,  # people's sign-in /signin, /signout, /accounts (issue 17)
    web.install,  # the installer's phone app: /install, /install/api (issue 17)
]


def create_app(settings: Settings) -> FastAPI:
    """Build the application for ``settings``.

    The settings are kept on ``app.state.settings`` for route dependencies.
    """
    modules = ROUTER_MODULES

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started: list[ModuleType] = []
        try:
            for module in modules:
                hook = getattr(module, "startup", None)
                if hook is not None:
                    await hook(app, settings)
                started.append(module)
            yield
        finally:
            for module in reversed(started):
                hook = getattr(module, "shutdown", None)
                if hook is not None:
                    try:
                        await hook(app)
                    except Exception:  # noqa: BLE001 - one bad hook must not block the rest
                        log.exception("shutdown of %s failed", module.__name__)

    app = FastAPI(
        title="anbu",
        description="Installer API, care-center inbox and operator dashboards of anbu (안부).",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    body_limits: dict[str, int] = {}
    for module in modules:
        app.include_router(module.router)
        limits = getattr(module, "body_limits", None)
        if limits is not None:
            body_limits.update(limits(settings))
    web = settings.web
    # Added first, so it runs inside the limits: a refused request changed nothing.
    app.add_middleware(AuditTrail)
    app.add_middleware(RequestLimits, max_body=web.max_body_bytes, max_url=web.max_url_bytes,
                       max_headers=web.max_header_bytes, body_limits=body_limits)
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 answer, with each bad value made writable as JSON.

    FastAPI's own handler echoes the bad value, and JSON has no infinity or NaN: the answer
    itself failed, as a 500.
    """
    return JSONResponse({"detail": _writable(jsonable_encoder(exc.errors()))}, 422)


_ECHO_MAX = 200  # characters of a bad value echoed back


def _writable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str) and len(value) > _ECHO_MAX:
        return value[:_ECHO_MAX] + "…"
    if isinstance(value, dict):
        return {k: _writable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_writable(v) for v in value]
    return value

