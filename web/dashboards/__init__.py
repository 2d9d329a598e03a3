"""Operator dashboards: overview ``/``, household ``/households/{id}``, devices ``/devices``.

JSON for the same pages is under ``/api/v1/dashboard/...``. ``web.app`` mounts
:data:`router` and calls :func:`startup` / :func:`shutdown`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from config import Settings
from web.dashboards.api import router as api_router
from web.dashboards.deps import make_queries
from web.dashboards.pages import router as pages_router

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter()
router.include_router(api_router)
router.include_router(pages_router)


async def startup(app: FastAPI, settings: Settings) -> None:
    """Open the InfluxDB client and serve the vendored chart library and styles."""
    app.state.dashboard_queries = make_queries(settings)
    if not any(getattr(route, "path", None) == "/static" for route in app.routes):
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


async def shutdown(app: FastAPI) -> None:
    """Close the InfluxDB client."""
    queries = getattr(app.state, "dashboard_queries", None)
    if queries is not None:
        queries.client.close()
