"""``anbu users``: create, list, reset, disable and enable personal accounts from the shell."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from anbu.cli import app, build_app
from devices.accounts import BadCredentials, authenticate
from devices.db import init_db
from testkit.services import settings_for


def test_anbu_users_manages_accounts(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "var", None, None, None)
    build_app(["users"])
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, ["--data-dir", str(settings.data_dir), "users", *args])
        return result.exit_code, result.stdout, result.stderr

    code, out, _ = run("create", "park.ops", "--name", "박운영", "--role", "operator")
    assert code == 0, out
    username, password = out.strip().split("\t")
    assert username == "park.ops" and len(password) >= 10
    engine = init_db(settings)
    with Session(engine) as session:
        assert authenticate(session, "park.ops", password).display_name == "박운영"
        assert authenticate(session, "park.ops", password).created_by.startswith("anbu users (")

    code, _, err = run("create", "kim", "--name", "김", "--role", "staff")
    assert code == 1 and "care_center_id" in err  # staff belong to a center
    code, _, err = run("create", "park.ops", "--name", "박", "--role", "operator")
    assert code == 1 and "taken" in err

    assert run("disable", "park.ops")[0] == 0
    with Session(engine) as session, pytest.raises(BadCredentials):
        authenticate(session, "park.ops", password)
    assert "disabled" in run("list")[1]
    assert run("enable", "park.ops")[0] == 0
    code, out, _ = run("reset", "park.ops")
    fresh = out.strip().split("\t")[1]
    assert code == 0 and fresh != password
    with Session(engine) as session:
        with pytest.raises(BadCredentials):
            authenticate(session, "park.ops", password)
        assert authenticate(session, "park.ops", fresh).username == "park.ops"
    assert "park.ops\toperator\t*\t박운영\tactive" in run("list")[1]
    assert run("reset", "nobody")[0] == 1
