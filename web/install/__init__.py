"""The installer's phone app at ``/install`` (issue 17).

An installer on a doorstep signs in with their personal account, finds or registers the
household, registers its gateway (login shown once, with a QR code), adds the devices by
the id on their label, and watches each one turn green as its first message arrives. Pages
in :mod:`web.install.pages`, JSON actions in :mod:`web.install.api`, the script and styles
under ``static/``. ``web.app`` mounts :data:`router` and calls :func:`startup`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from config import Settings
from web.install.api import router as api_router
from web.install.pages import router as pages_router

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/install/static"

router = APIRouter()
router.include_router(api_router)
router.include_router(pages_router)


async def startup(app: FastAPI, settings: Settings) -> None:
    """Serve the app's script and styles."""
    if not any(getattr(route, "path", None) == STATIC_PATH for route in app.routes):
        app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="install-static")
