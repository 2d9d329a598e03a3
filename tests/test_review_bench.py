"""``anbu bench review`` on a small district: the withdrawing residents lead the visit plan."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from anbu.cli import build_app
from bench.review import district
from simulator.model import IncidentKind
from simulator.plan import Withdrawal
from simulator.world import Simulation, SimulationConfig


def test_withdrawing_residents_lead_a_small_districts_visit_plan() -> None:
    result = district(households=40, weeks=6, withdrawing=4, seed=3, workers=1, top=8)
    assert len(result.ranked) == 40 and len(result.withdrawing) == 4
    assert result.in_top >= 3, [(j.household_id, round(j.score, 2)) for j in result.ranked[:8]]
    # the control: with no withdrawal the same district's head holds none of them
    calm = district(households=40, weeks=6, withdrawing=4, seed=3, workers=1, top=8, depth=0.0)
    assert calm.in_top <= 2


def test_withdrawal_is_in_the_ground_truth() -> None:
    config = SimulationConfig(households=3, days=35, withdrawal=Withdrawal(frozenset({2})))
    truth = [i for i in Simulation(config).ground_truth() if i.kind is IncidentKind.WITHDRAWAL]
    assert [i.household_id for i in truth] == ["hh-00002"]


def test_anbu_simulate_withdraw_writes_the_ground_truth(tmp_path: Path) -> None:
    argv = ["simulate", "-n", "3", "--days", "30", "--withdraw", "2", "--heartbeat-s", "3600",
            "--out", str(tmp_path)]
    result = CliRunner().invoke(build_app(argv), argv)
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "ground_truth.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows if ",withdrawal," in r] == ["hh-00002"]
    argv = ["simulate", "-n", "3", "--withdraw", "two", "--out", str(tmp_path)]
    assert CliRunner().invoke(build_app(argv), argv).exit_code == 2
