"""What the web app's tests share: the whole app served on a free port, and signing in.

The fixture ``web_server`` is registered for every test by ``tests/conftest.py``
(``pytest_plugins``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from sqlalchemy.orm import Session

from anbu.stack.services import free_port
from config import Settings
from devices import residents
from devices import service as registry
from devices import tokens as registry_tokens
from devices.accounts import create_account
from devices.db import init_db, session_factory
from devices.principals import Principal, Role
from testkit.polling import wait_for
from web.app import create_app

ADMIN_PASSWORD = "admin password 1"


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The whole web app (uvicorn in a thread) on a free port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, what="the web server")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def web_server(settings: Settings) -> Iterator[str]:
    """The whole web app served for the test (:func:`serving`); yields its base URL."""
    with serving(settings) as url:
        yield url


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


@dataclass
class Registry:
    tokens: dict[str, str]
    households: dict[str, str]


def seed_registry(settings: Settings, delays: tuple[int, ...] = (600, 600)) -> Registry:
    """Two centers, a household in each, and tokens for staff of each and an operator."""
    engine = init_db(settings)
    tokens: dict[str, str] = {}
    households: dict[str, str] = {}
    with session_factory(engine)() as session:
        assert isinstance(session, Session)
        for center, dong in (("cc-a", "역삼1동"), ("cc-b", "청운효자동")):
            registry.create_care_center(
                session, center, f"{center} 복지관", dongs=[dong], email=f"{center}@example.org"
            )
            household = registry.create_household(
                session, center, dong, escalation_delays_s=delays, checkin_enabled=False
            )
            residents.add_contact(
                session, household.id, 1, "담당 사회복지사", phone="010-1234-5678"
            )
            households[center] = household.id
            _, tokens[center] = registry_tokens.create_token(
                session, Role.STAFF, name=f"김복지 ({center})", care_center_id=center
            )
        _, tokens["operator"] = registry_tokens.create_token(
            session, Role.OPERATOR, name="구청 운영"
        )
        session.commit()
    engine.dispose()
    return Registry(tokens, households)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
