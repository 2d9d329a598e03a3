"""The registry's HTTP API (``/api/v1``), mounted by ``web.app``, and its hooks.

Every endpoint needs a token. A household of another care center is answered with 404,
exactly as a household that does not exist, so staff cannot even learn that it exists.
The routes are in ``api_households``, ``api_devices`` and ``api_tokens``; what they share in
``api_deps``; the start-up, shut-down and background loops in ``loops``.
"""

from __future__ import annotations

from fastapi import APIRouter

from config import Settings
from devices import api_devices, api_households, api_tokens
from devices.api_deps import IMPORT_PATH
from devices.loops import shutdown, startup

__all__ = ["body_limits", "router", "shutdown", "startup"]

router = APIRouter()
for _part in (api_households, api_devices, api_tokens):
    # The parts' routes themselves (include_router would add a lazy wrapper in their place),
    # so router.routes lists every endpoint as an APIRoute, as when this was one module.
    router.routes.extend(_part.router.routes)


def body_limits(settings: Settings) -> dict[str, int]:
    """The paths taking a larger body than ``web.max_body_bytes`` (see web/app.py)."""
    return {IMPORT_PATH: settings.registry.max_import_bytes}
