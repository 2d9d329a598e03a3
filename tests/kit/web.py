"""What the web app's tests share: the whole app served on a free port, and signing in.

The fixture ``web_server`` is registered for every test by ``tests/conftest.py``
(``pytest_plugins``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from anbu.stack.services import free_port
from config import Settings
from devices.accounts import create_account
from devices.auth import Principal, Role
from devices.db import init_db, session_factory
from testkit.polling import wait_for
from web.app import create_app

ADMIN_PASSWORD = "admin password 1"


@pytest.fixture
def web_server(settings: Settings) -> Iterator[str]:
    """The whole web app (uvicorn in a thread) on a free port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, what="the web server")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def make_admin(settings: Settings, username: str = "admin.han", password: str = ADMIN_PASSWORD
               ) -> None:
    """An admin's personal account, made by the bootstrap admin (as ``anbu users`` does)."""
    engine = init_db(settings)
    bootstrap = Principal("bootstrap", Role.ADMIN, None, "bootstrap")
    with session_factory(engine)() as session:
        create_account(session, bootstrap, username=username, display_name="한관리",
                       role="admin", password=password)
        session.commit()


def sign_in(page: Any, username: str, password: str) -> None:
    """Fill and send the /signin form the page is on."""
    page.fill("#signin-form input[name=username]", username)
    page.fill("#signin-form input[name=password]", password)
    page.click("#signin-form button[type=submit]")
