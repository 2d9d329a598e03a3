"""Personal accounts of people (staff, center leads, installers, operators, admins).

People sign in with a user name and a password; machines keep using API tokens
(:mod:`devices.auth`). Passwords are stored as Argon2id hashes (argon2-cffi, the reference
implementation's binding: slow on purpose, salted, parameters kept in the hash so they can be
raised later). A signed-in browser holds a random session id in a cookie; the registry keeps
only its SHA-256, so a stolen database does not sign anyone in, and disabling an account or
resetting its password ends its sessions at once.

Five wrong passwords in a row lock an account for :data:`LOCKOUT` (even the right password
is refused meanwhile); a successful sign-in clears the count.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, ForeignKey, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from anbu.timeutil import utcnow
from devices.exceptions import Conflict, InvalidInput, NotFound, RegistryError
from devices.models import Base, CareCenter, UtcDateTime
from devices.principals import Principal, Role, hash_token

MAX_FAILURES = 5
"""Wrong passwords in a row before the account is locked."""
LOCKOUT = timedelta(minutes=15)
"""How long a locked account refuses every password."""
SESSION_LIFETIME = timedelta(hours=12)
"""A sign-in lasts one shift."""
MIN_PASSWORD = 10

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,39}$")
CENTER_ROLES = (Role.STAFF, Role.LEAD, Role.INSTALLER)
"""Roles that may belong to one care center (staff and leads must)."""

_HASHER = PasswordHasher()
# Verified against when the user name is unknown, so a wrong name takes as long as a wrong
# password and the timing does not tell which names exist.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class Account(Base):
    """A person who signs in (personal data: the display name)."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    care_center_id: Mapped[str | None] = mapped_column(ForeignKey("care_centers.id"))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebSession(Base):
    """A signed-in browser: only the SHA-256 of the cookie's value is kept."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEntry(Base):
    """Who changed what through the web process (registry changes, accounts)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(500))
    status: Mapped[int] = mapped_column(Integer)


class AccountError(RegistryError):
    """Base class of sign-in and account errors."""


class BadCredentials(AccountError):
    """Unknown user name, wrong password, or a disabled account (said the same way)."""

    def __init__(self) -> None:
        super().__init__("wrong user name or password")


class AccountLocked(AccountError):
    """Too many wrong passwords: no password is accepted until ``until``.

    Attributes:
        until: when the lock ends (UTC).
    """

    def __init__(self, until: datetime) -> None:
        super().__init__(f"account locked until {until.isoformat()}")
        self.until = until


class NotAllowed(AccountError):
    """The caller may not manage this account (a lead outside their center, a non-admin)."""


@dataclass(frozen=True, slots=True)
class NewPassword:
    """An account and the password to hand to its owner (shown once, never stored)."""

    account: Account
    password: str


def actor_of(account: Account) -> str:
    """How actions by ``account`` are recorded: ``"김복지 (kim.bokji)"``."""
    return f"{account.display_name} ({account.username})"


def principal_of(account: Account) -> Principal:
    """The :class:`Principal` of a signed-in person."""
    return Principal(
        token_id=f"account:{account.id}",
        role=Role(account.role),
        care_center_id=account.care_center_id,
        name=actor_of(account),
        username=account.username,
    )


def new_password() -> str:
    """A random password to hand over (16 characters, about 96 bits)."""
    return secrets.token_urlsafe(12)


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD or len(password) > 200:
        raise InvalidInput("password", f"use {MIN_PASSWORD} to 200 characters")
    return password


def may_manage(manager: Principal, role: Role, care_center_id: str | None) -> bool:
    """Whether ``manager`` may create, reset or disable an account of this role and center.

    Admins manage everyone; a center lead manages staff and installers of their own center.
    """
    if manager.role is Role.ADMIN:
        return True
    return (
        manager.role is Role.LEAD
        and manager.care_center_id is not None
        and care_center_id == manager.care_center_id
        and role in (Role.STAFF, Role.INSTALLER)
    )


def get_account(session: Session, username: str) -> Account:
    """The account named ``username``.

    Raises:
        NotFound: no such account.
    """
    row = session.scalar(select(Account).where(Account.username == username.strip().lower()))
    if row is None:
        raise NotFound("account", username)
    return row


def _managed(session: Session, manager: Principal, username: str) -> Account:
    row = get_account(session, username)
    if not may_manage(manager, Role(row.role), row.care_center_id):
        # A lead asking about another center's account learns nothing about it.
        raise NotFound("account", username)
    return row


def create_account(
    session: Session,
    manager: Principal,
    *,
    username: str,
    display_name: str,
    role: Role | str,
    care_center_id: str | None = None,
    password: str | None = None,
) -> NewPassword:
    """Create an account; without ``password`` a random one is made to hand over.

    Raises:
        InvalidInput: a bad user name, role, password, or a role/center mismatch.
        Conflict-like InvalidInput: the user name is taken.
        NotFound: no such care center.
        NotAllowed: ``manager`` may not create this account.
    """
    name = username.strip().lower()
    if not USERNAME.match(name):
        raise InvalidInput(
            "username", "3-40 characters: lower-case letters, digits, '.', '_' or '-'"
        )
    display = display_name.strip()
    if not display or len(display) > 200:
        raise InvalidInput("display_name", "give the person's name (at most 200 characters)")
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput("role", f"{role!r} is not one of {', '.join(Role)}") from None
    center = care_center_id or None
    if role in (Role.STAFF, Role.LEAD) and not center:
        raise InvalidInput("care_center_id", f"a {role} account belongs to one care center")
    if role not in CENTER_ROLES and center:
        raise InvalidInput("care_center_id", f"an {role} account covers every center")
    if center and session.get(CareCenter, center) is None:
        raise NotFound("care center", center)
    if not may_manage(manager, role, center):
        raise NotAllowed(f"{manager.name} may not create a {role} account of {center or 'all'}")
    if session.scalar(select(Account.id).where(Account.username == name)) is not None:
        raise Conflict(f"user name {name!r} is already taken")
    secret = _check_password(password) if password else new_password()
    row = Account(
        id=f"acc-{secrets.token_hex(5)}",
        username=name,
        display_name=display,
        password_hash=_HASHER.hash(secret),
        role=role.value,
        care_center_id=center,
        failed_logins=0,
        created_by=manager.name,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return NewPassword(row, secret)


def _end_sessions(session: Session, account_id: str, now: datetime) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.account_id == account_id, WebSession.ended_at.is_(None))
        .values(ended_at=now)
    )


def reset_password(
    session: Session, manager: Principal, username: str, password: str | None = None
) -> NewPassword:
    """Give the account a new password (random without one), unlock it, end its sessions."""
    row = _managed(session, manager, username)
    secret = _check_password(password) if password else new_password()
    now = utcnow()
    row.password_hash = _HASHER.hash(secret)
    row.failed_logins = 0
    row.locked_until = None
    _end_sessions(session, row.id, now)
    return NewPassword(row, secret)


def set_disabled(session: Session, manager: Principal, username: str, disabled: bool) -> Account:
    """Disable (ending its sessions at once) or enable an account."""
    row = _managed(session, manager, username)
    now = utcnow()
    if disabled:
        row.disabled_at = row.disabled_at or now
        _end_sessions(session, row.id, now)
    else:
        row.disabled_at = None
        row.failed_logins = 0
        row.locked_until = None
    return row


def list_accounts(session: Session, manager: Principal) -> list[Account]:
    """The accounts ``manager`` may manage, by center then user name."""
    rows = session.scalars(select(Account).order_by(Account.care_center_id, Account.username))
    return [r for r in rows if may_manage(manager, Role(r.role), r.care_center_id)]


def authenticate(
    session: Session, username: str, password: str, now: datetime | None = None
) -> Account:
    """Check a user name and password; count failures and lock after :data:`MAX_FAILURES`.

    The caller commits (the failure count must be kept even when this raises).

    Raises:
        BadCredentials: unknown name, wrong password or disabled account.
        AccountLocked: locked now, or locked by this very failure.
    """
    now = now or utcnow()
    name = username.strip().lower()
    row = (
        session.scalar(select(Account).where(Account.username == name).with_for_update())
        if USERNAME.match(name)
        else None
    )
    if row is None or row.disabled_at is not None:
        _verify(_DUMMY_HASH, password)
        raise BadCredentials()
    if row.locked_until is not None and row.locked_until > now:
        raise AccountLocked(row.locked_until)
    if not _verify(row.password_hash, password):
        if row.locked_until is not None:  # an earlier lock ran out: count afresh
            row.failed_logins = 0
            row.locked_until = None
        row.failed_logins += 1
        if row.failed_logins >= MAX_FAILURES:
            row.locked_until = now + LOCKOUT
            raise AccountLocked(row.locked_until)
        raise BadCredentials()
    row.failed_logins = 0
    row.locked_until = None
    row.last_login_at = now
    if _HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = _HASHER.hash(password)
    return row


def _verify(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def start_session(session: Session, account: Account, now: datetime | None = None) -> str:
    """Open a browser session for ``account``; returns the cookie value (shown this once)."""
    now = now or utcnow()
    raw = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=hash_token(raw),
            account_id=account.id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return raw


def session_account(session: Session, raw: str, now: datetime | None = None) -> Account | None:
    """The account of a live session cookie; None when unknown, ended, expired or disabled."""
    if not raw or len(raw) > 200:
        return None
    now = now or utcnow()
    found = session.execute(
        select(WebSession, Account)
        .join(Account, Account.id == WebSession.account_id)
        .where(WebSession.id_hash == hash_token(raw))
    ).first()
    if found is None:
        return None
    web, account = found
    if web.ended_at is not None or web.expires_at <= now or account.disabled_at is not None:
        return None
    return account


def session_principal(engine: Engine, raw: str) -> Principal | None:
    """The :class:`Principal` of a live session cookie, or None."""
    with Session(engine) as session:
        account = session_account(session, raw)
        return None if account is None else principal_of(account)


def end_session(session: Session, raw: str) -> None:
    """Sign out: the cookie's session no longer signs anyone in."""
    session.execute(
        update(WebSession)
        .where(WebSession.id_hash == hash_token(raw), WebSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


def record(session: Session, actor: str, action: str, subject: str, status: int) -> None:
    """Add an audit entry (``actor`` did ``action`` on ``subject``, answered ``status``)."""
    session.add(
        AuditEntry(at=utcnow(), actor=actor[:300], action=action[:20], subject=subject[:500],
                   status=status)
    )
