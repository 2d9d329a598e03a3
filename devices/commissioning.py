"""The commissioning check: has every device of a household reported since installation.

An installer runs it before leaving a home; a device that was registered but never reports
is what they must never miss.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from anbu.timeutil import utcnow
from devices.models import Device, Gateway, Household
from devices.records import from_row
from devices.service import get_row


class DeviceCheck(BaseModel):
    """One device's report status.

    Attributes:
        status: ``ok`` (reported since installation and within its interval), ``never``
            (no report since installation), ``overdue`` (silent past its reporting interval).
    """

    device_id: str
    kind: str
    room: str | None
    mqtt_topic: str
    installed_at: datetime
    last_seen_at: datetime | None
    reported_since_install: bool
    silent_s: float | None
    status: str
    status_ko: str


class GatewayCheck(BaseModel):
    """One gateway's report status (heartbeats count)."""

    gateway_id: str
    created_at: datetime
    last_seen_at: datetime | None
    reported_since_install: bool
    status: str
    status_ko: str


class CheckResult(BaseModel):
    """A household's commissioning result: ``ok`` when every device and gateway reported."""

    household_id: str
    checked_at: datetime
    ok: bool
    devices: list[DeviceCheck]
    gateways: list[GatewayCheck]
    summary: str
    summary_ko: str


_KO = {"ok": "정상", "never": "설치 후 보고 없음", "overdue": "보고 지연"}


def _report(
    last: datetime | None, since: datetime, interval_s: float, now: datetime
) -> dict[str, Any]:
    """The report-status fields a device and a gateway check share."""
    if last is None or last < since:
        status = "never"
    elif (now - last).total_seconds() > interval_s:
        status = "overdue"
    else:
        status = "ok"
    return {
        "last_seen_at": last,
        "reported_since_install": status != "never",
        "status": status,
        "status_ko": _KO[status],
    }


def check_household(
    session: Session, household_id: str, now: datetime | None = None
) -> CheckResult:
    """Check every active device and gateway of a household.

    Raises:
        NotFound: no such household.
    """
    get_row(session, Household, household_id)
    now = now or utcnow()
    devices = []
    for d in session.scalars(
        select(Device)
        .where(Device.household_id == household_id, Device.retired_at.is_(None))
        .order_by(Device.room, Device.id)
    ):
        report = _report(d.last_seen_at, d.installed_at, d.reporting_interval_s, now)
        silent_s = (now - d.last_seen_at).total_seconds() if d.last_seen_at else None
        devices.append(from_row(DeviceCheck, d, device_id=d.id, silent_s=silent_s, **report))
    gateways = []
    for g in session.scalars(
        select(Gateway)
        .where(Gateway.household_id == household_id, Gateway.retired_at.is_(None))
        .order_by(Gateway.id)
    ):
        # Heartbeats are frequent; three missed ones mean the gateway is offline.
        report = _report(g.last_seen_at, g.created_at, 3 * g.heartbeat_interval_s, now)
        gateways.append(GatewayCheck(gateway_id=g.id, created_at=g.created_at, **report))
    bad = [d.device_id for d in devices if d.status != "ok"]
    bad += [g.gateway_id for g in gateways if g.status != "ok"]
    ok = not bad and bool(devices)
    if not devices:
        summary, summary_ko = "no devices registered", "등록된 기기가 없습니다"
    elif ok:
        summary = f"all {len(devices)} device(s) reported"
        summary_ko = f"기기 {len(devices)}대 모두 보고했습니다"
    else:
        summary = f"{len(bad)} not reporting: {', '.join(bad)}"
        summary_ko = f"{len(bad)}대 보고 없음: {', '.join(bad)}"
    return CheckResult(
        household_id=household_id,
        checked_at=now,
        ok=ok,
        devices=devices,
        gateways=gateways,
        summary=summary,
        summary_ko=summary_ko,
    )
