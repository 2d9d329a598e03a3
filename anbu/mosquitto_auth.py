"""Mosquitto's password and ACL files, written by the project.

The password file uses Mosquitto 2's PBKDF2-SHA512 format (``$7$``), produced here rather
than by running ``mosquitto_passwd`` once per account, since the registry rewrites it for
thousands of gateways at a time.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import signal
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_ITERATIONS = 101


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Return the Mosquitto 2 password-file hash of ``password``."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ITERATIONS)
    return f"$7${_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


@dataclass(frozen=True, slots=True)
class MqttAccount:
    """One MQTT user and what it may do.

    Attributes:
        username: the MQTT username.
        password_hash: from :func:`hash_password`; the clear password is never stored.
        read: topic patterns it may subscribe to.
        write: topic patterns it may publish to.
    """

    username: str
    password_hash: str
    read: tuple[str, ...] = field(default_factory=tuple)
    write: tuple[str, ...] = field(default_factory=tuple)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # a temporary file of its own (mode 0600): two writers at once (the registry API and
    # its repair loop) each replace the file whole; with one shared name, the second's
    # rename found its file already moved away (FileNotFoundError, seen in CI)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_auth_files(password_file: Path, acl_file: Path, accounts: Iterable[MqttAccount]) -> None:
    """Write both files atomically (mode 0600); Mosquitto picks them up on SIGHUP."""
    accounts = sorted(accounts, key=lambda a: a.username)
    _atomic_write(password_file, "".join(f"{a.username}:{a.password_hash}\n" for a in accounts))
    lines: list[str] = []
    for account in accounts:
        lines.append(f"user {account.username}")
        both = set(account.read) & set(account.write)
        for pattern in sorted(both):
            lines.append(f"topic readwrite {pattern}")
        for pattern in sorted(set(account.read) - both):
            lines.append(f"topic read {pattern}")
        for pattern in sorted(set(account.write) - both):
            lines.append(f"topic write {pattern}")
        lines.append("")
    _atomic_write(acl_file, "\n".join(lines) + "\n")


def password_matches(password: str, stored_hash: str) -> bool:
    """Return whether ``password`` hashes to ``stored_hash`` (a ``$7$`` line's hash part)."""
    try:
        _, kind, iterations, salt, digest = stored_hash.split("$")
        if kind != "7":
            return False
        computed = hashlib.pbkdf2_hmac(
            "sha512", password.encode(), base64.b64decode(salt), int(iterations)
        )
    except ValueError:
        return False
    return secrets.compare_digest(computed, base64.b64decode(digest))


def ensure_service_account(
    password_file: Path, acl_file: Path, username: str, password: str
) -> None:
    """Make the service account valid while keeping every other account in the files.

    The registry writes the gateways' accounts into the same files; a restart of the stack
    must not lock them out until the registry writes them again.
    """
    lines = password_file.read_text().splitlines() if password_file.exists() else []
    others = [line for line in lines if line and not line.startswith(f"{username}:")]
    ours = [line for line in lines if line.startswith(f"{username}:")]
    if not (ours and password_matches(password, ours[0].partition(":")[2])):
        _atomic_write(password_file, "".join(f"{line}\n" for line in others)
                      + f"{username}:{hash_password(password)}\n")
    acl = acl_file.read_text() if acl_file.exists() else ""
    if f"user {username}\n" not in acl:
        _atomic_write(acl_file, acl + f"user {username}\ntopic readwrite #\n\n")


def service_account(username: str, password: str) -> MqttAccount:
    """The account anbu's own processes use: read and write everything."""
    return MqttAccount(username, hash_password(password), read=("#",), write=("#",))


def reload_mosquitto(pid_file: Path) -> bool:
    """Ask a running Mosquitto to re-read its password and ACL files (SIGHUP).

    Returns:
        True if a signal was sent; False if no Mosquitto runs with that pid file.
    """
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    return True
