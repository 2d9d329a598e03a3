"""The dashboards alone in a FastAPI app, with the registry for sign-in (benchmarks, tests).

``anbu web`` serves them inside the full application (``web.app``); this app has only the
dashboards' routes and skips the other packages' background work (registry publishing,
Kafka consumers).
"""

from __future__ import annotations

from fastapi import FastAPI

from config import Settings
from devices.db import init_db, session_factory
from devices.lookup import RegistryLookup
from devices.tokens import ensure_admin_token
from web.dashboards.queries import DashboardQueries


def dashboards_app(settings: Settings, queries: DashboardQueries | None = None) -> FastAPI:
    """An app serving the dashboards; ``settings.admin_token()`` is a valid admin token."""
    from web.dashboards import router

    engine = init_db(settings)
    with session_factory(engine)() as session:
        ensure_admin_token(session, settings.admin_token())
        session.commit()
    app = FastAPI()
    app.state.settings = settings
    app.state.registry_lookup = RegistryLookup(engine)
    if queries is not None:
        app.state.dashboard_queries = queries
    app.include_router(router)
    return app
