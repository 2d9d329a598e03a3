"""The one Jinja environment of the server-rendered pages (templates in ``web/templates/``).

Shared so every page loads and caches a template once, whichever module renders it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
