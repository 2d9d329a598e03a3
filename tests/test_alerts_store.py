"""The alert store on its own: concurrent start-up, dedupe rules, staff transitions."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from alerts.directory import StaticDirectory
from alerts.exceptions import TransitionRefused
from alerts.lifecycle import Channels, Lifecycle
from alerts.model import AlertState, HouseholdPolicy
from alerts.store import AlertStore
from anbu.events import AlertAction, AlertKind, Severity
from anbu.timeutil import utcnow
from tests.kit.alerts import make_event


def _open_store(url: str) -> None:
    AlertStore(url).close()


def test_web_and_service_starting_together_both_get_the_store(tmp_path: Path) -> None:
    # `anbu web` and `anbu alerts` start at the same moment under supervisord; without care
    # one of them dies with "table alerts already exists" (seen 28 times in 40 here).
    context = multiprocessing.get_context("fork")
    for round_ in range(5):
        url = f"sqlite:///{tmp_path / f'race{round_}' / 'alerts.sqlite3'}"
        processes = [context.Process(target=_open_store, args=(url,)) for _ in range(4)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(30)
        assert [p.exitcode for p in processes] == [0, 0, 0, 0]


def test_updates_dedupe_by_content_and_staff_transitions_are_checked(tmp_path: Path) -> None:
    store = AlertStore(f"sqlite:///{tmp_path / 'alerts.sqlite3'}")
    directory = StaticDirectory(policies={"hh-1": HouseholdPolicy("cc", "d", (60,), False, 2)})
    lifecycle = Lifecycle(store, directory, Channels(webhook_url="http://hook.example"))
    raised = make_event("hh-1", AlertKind.INACTIVITY, severity=Severity.WARNING)
    assert lifecycle.apply(raised, utcnow()).created
    update = raised.model_copy(
        update={"action": AlertAction.UPDATE, "severity": Severity.HIGH, "reason": "30 h"}
    )
    assert lifecycle.apply(update, utcnow()).updated
    assert lifecycle.apply(update, utcnow()).duplicate  # the same update again
    worse = update.model_copy(update={"severity": Severity.CRITICAL, "reason": "40 h"})
    assert lifecycle.apply(worse, utcnow()).updated
    alert = store.get(raised.alert_id, full=True)
    assert (alert.severity, alert.reason, alert.repeats) == ("critical", "40 h", 2)
    assert len(alert.notifications) == 1  # updates never notify again

    now = utcnow()
    lifecycle.acknowledge(raised.alert_id, "kim", "", now)
    with pytest.raises(TransitionRefused):
        lifecycle.acknowledge(raised.alert_id, "lee", "", now)
    lifecycle.close(raised.alert_id, AlertState.RESOLVED, "kim", "visited", now)
    with pytest.raises(TransitionRefused):
        lifecycle.close(raised.alert_id, AlertState.FALSE_ALARM, "lee", "", now)
    history = store.get(raised.alert_id, full=True).history
    # Same instant, still strictly increasing: InfluxDB would otherwise keep only one.
    assert [h.label.value for h in history] == ["open", "acknowledged", "resolved"]
    assert history[1].at < history[2].at
    # After it closed, the detector's update of the old episode changes nothing.
    later = update.model_copy(update={"reason": "50 h"})
    assert lifecycle.apply(later, utcnow()).ignored
    assert store.get(raised.alert_id).state is AlertState.RESOLVED
    store.close()


def test_two_silent_devices_of_one_household_are_two_alerts(tmp_path: Path) -> None:
    store = AlertStore(f"sqlite:///{tmp_path / 'alerts.sqlite3'}")
    lifecycle = Lifecycle(store, StaticDirectory(), Channels())
    plug, door = (
        make_event("hh-2", AlertKind.DEVICE_SILENT, severity=Severity.WARNING).model_copy(
            update={"device_id": device, "alert_id": f"silent-{device}"}
        )
        for device in ("plug-1", "door-1")
    )
    assert lifecycle.apply(plug, utcnow()).created
    assert lifecycle.apply(door, utcnow()).created
    lifecycle.apply(
        plug.model_copy(update={"action": AlertAction.RESOLVE, "details": {}}), utcnow()
    )
    assert store.get("silent-plug-1").state is AlertState.AUTO_RESOLVED
    assert store.get("silent-door-1").state is AlertState.OPEN
    store.close()
