"""Personal accounts on a real SQLite file and a real PostgreSQL: the migration, Argon2id
hashes, lock-out after five wrong passwords, sessions, and who may manage whom."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from anbu.timeutil import utcnow
from devices import accounts, service
from devices.accounts import (
    MAX_FAILURES,
    Account,
    AccountLocked,
    BadCredentials,
    NotAllowed,
    authenticate,
    create_account,
    reset_password,
    session_account,
    session_principal,
    set_disabled,
    start_session,
)
from devices.exceptions import Conflict, InvalidInput, NotFound
from devices.principals import Principal, Role

ADMIN = Principal("tok-admin", Role.ADMIN, None, "bootstrap")


@pytest.fixture(autouse=True)
def centers(engine: Engine) -> None:
    with Session(engine) as session:
        service.create_care_center(session, "cc-a", "Center A", dongs=["Seogyo-dong"])
        service.create_care_center(session, "cc-b", "Center B", dongs=["Mangwon-dong"])
        session.commit()


def test_migration_adds_the_account_tables(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {"accounts", "web_sessions", "audit_log", "api_tokens"} <= tables


def test_password_is_hashed_with_argon2id_and_signs_in(engine: Engine) -> None:
    with Session(engine) as session:
        made = create_account(session, ADMIN, username="Kim.Bokji", display_name="김복지",
                              role="staff", care_center_id="cc-a", password="correct horse 1")
        session.commit()
        stored = session.scalar(select(Account.password_hash))
        assert stored is not None and stored.startswith("$argon2id$")
        assert "correct horse 1" not in stored
        assert made.account.username == "kim.bokji"
    with Session(engine) as session:
        account = authenticate(session, "KIM.bokji ", "correct horse 1")
        raw = start_session(session, account)
        session.commit()
    principal = session_principal(engine, raw)
    assert principal is not None and principal.role is Role.STAFF
    assert principal.name == "김복지 (kim.bokji)" and principal.care_center_id == "cc-a"
    assert session_principal(engine, raw + "x") is None


def test_five_wrong_passwords_lock_the_account_for_a_while(engine: Engine) -> None:
    with Session(engine) as session:
        create_account(session, ADMIN, username="lee", display_name="이설치",
                       role="installer", password="right password")
        session.commit()
    # Positive control: the right password works, and clears earlier failures.
    for _ in range(MAX_FAILURES - 1):
        with Session(engine) as session, pytest.raises(BadCredentials):
            try:
                authenticate(session, "lee", "wrong password")
            finally:
                session.commit()
    with Session(engine) as session:
        assert authenticate(session, "lee", "right password").failed_logins == 0
        session.commit()
    now = utcnow()
    for attempt in range(1, MAX_FAILURES + 1):
        with Session(engine) as session:
            expected = AccountLocked if attempt == MAX_FAILURES else BadCredentials
            with pytest.raises(expected):
                authenticate(session, "lee", f"wrong {attempt}", now)
            session.commit()
    with Session(engine) as session:
        # Locked: even the right password is refused until the lock ends.
        with pytest.raises(AccountLocked) as locked:
            authenticate(session, "lee", "right password", now + timedelta(minutes=1))
        assert locked.value.until == now + accounts.LOCKOUT
        assert authenticate(session, "lee", "right password", now + accounts.LOCKOUT
                            + timedelta(seconds=1)).username == "lee"


def test_disable_and_reset_end_sessions(engine: Engine) -> None:
    with Session(engine) as session:
        made = create_account(session, ADMIN, username="park", display_name="박간호",
                              role="staff", care_center_id="cc-b")
        raw = start_session(session, authenticate(session, "park", made.password))
        session.commit()
        assert session_account(session, raw) is not None
        set_disabled(session, ADMIN, "park", True)
        session.commit()
        assert session_account(session, raw) is None
        with pytest.raises(BadCredentials):
            authenticate(session, "park", made.password)
        set_disabled(session, ADMIN, "park", False)
        raw = start_session(session, authenticate(session, "park", made.password))
        fresh = reset_password(session, ADMIN, "park")
        session.commit()
        assert session_account(session, raw) is None
        with pytest.raises(BadCredentials):
            authenticate(session, "park", made.password)
        assert authenticate(session, "park", fresh.password).username == "park"


def test_a_lead_manages_only_staff_and_installers_of_their_center(engine: Engine) -> None:
    with Session(engine) as session:
        lead_account = create_account(session, ADMIN, username="choi", display_name="최팀장",
                                      role="lead", care_center_id="cc-a").account
        create_account(session, ADMIN, username="other", display_name="남의직원",
                       role="staff", care_center_id="cc-b")
        session.commit()
        lead = accounts.principal_of(lead_account)
        # Positive control: a lead creates staff of their own center.
        mine = create_account(session, lead, username="jung", display_name="정직원",
                              role="staff", care_center_id="cc-a")
        assert mine.account.created_by == "최팀장 (choi)"
        with pytest.raises(NotAllowed):
            create_account(session, lead, username="xone", display_name="x", role="staff",
                           care_center_id="cc-b")
        with pytest.raises(NotAllowed):
            create_account(session, lead, username="xtwo", display_name="x", role="admin")
        with pytest.raises(NotFound):
            reset_password(session, lead, "other")
        assert [a.username for a in accounts.list_accounts(session, lead)] == ["jung"]
        with pytest.raises(InvalidInput, match="username"):
            create_account(session, ADMIN, username="a b", display_name="x", role="operator")
        with pytest.raises(InvalidInput, match="care_center_id"):
            create_account(session, ADMIN, username="nocenter", display_name="x", role="staff")
        with pytest.raises(Conflict, match="taken"):
            create_account(session, ADMIN, username="jung", display_name="x", role="operator")
