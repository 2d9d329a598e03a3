"""The one FastAPI application behind ``anbu web``.

Each package contributes a module with an ``APIRouter`` named ``router`` and, optionally,
``async def startup(app, settings)`` and ``async def shutdown(app)`` hooks. Routers are
mounted in the order of :data:`ROUTER_MODULES`; a package that is not installed is skipped.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType

from fastapi import FastAPI

from config import Settings

log = logging.getLogger(__name__)

ROUTER_MODULES: list[str] = [
    "devices.api",  # installer API: /api/v1/centers, /households, /devices, ... (issue 4)
    "alerts.api",  # care-center inbox: /inbox, /api/v1/alerts (issue 6)
    "web.dashboards",  # operator dashboards: /, /households/{id}, /devices (issue 7)
]


def _modules() -> list[ModuleType]:
    found = []
    for name in ROUTER_MODULES:
        package = name.split(".")[0]
        if importlib.util.find_spec(package) is None or importlib.util.find_spec(name) is None:
            continue
        found.append(importlib.import_module(name))
    return found


def create_app(settings: Settings) -> FastAPI:
    """Build the application for ``settings``.

    The settings are kept on ``app.state.settings`` for route dependencies.
    """
    modules = _modules()

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
    for module in modules:
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
