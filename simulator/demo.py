"""``anbu simulate --demo``: demo households in the registry, then live traffic for ever.

Seeding goes through the registry's own service layer (``devices.service``), so the demo
households are published to ``anbu.registry`` and get MQTT accounts exactly like ones an
installer registers. Seeding is idempotent: a restart finds what exists and adds only what
is missing. Personal accounts to sign in with (an admin, an operator, an installer, and a
lead and a staff member of each care center) are created once, with random passwords
written to ``<data dir>/demo/accounts.txt`` (mode 0600), which ``anbu up --demo`` prints.

Time runs ``speed`` times faster than the wall clock, while the pipeline measures silence
on the wall clock; so the demo households' inactivity threshold is scaled down by the same
factor (24 h at speed 60 is 24 minutes), or a demo collapse would take a day to show.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from anbu.timeutil import SEOUL, from_epoch, utcnow
from config import Settings
from simulator.devices import CARE_CENTERS
from simulator.exceptions import RegistryUnavailable
from simulator.model import SimDevice, SimEvent
from simulator.plan import DAY, HOUR
from simulator.world import Simulation, SimulationConfig

log = logging.getLogger(__name__)

_CENTER_NAMES = {
    "cc-01": "마포구 노인복지관 (Mapo Senior Welfare Center)",
    "cc-02": "관악구 돌봄SOS센터 (Gwanak Care SOS Center)",
    "cc-03": "성북구 행정복지센터 (Seongbuk Community Center)",
}
_FAMILY = "김이박최정강조윤장임"
_GIVEN = ["영자", "순자", "정숙", "말순", "영수", "철수", "옥순", "복순", "광수", "춘자"]


@dataclass(frozen=True, slots=True)
class DemoSeed:
    """What seeding did."""

    created_households: int
    existing_households: int
    accounts_file: Path


def demo_inactivity_hours(speed: float) -> float:
    """The inactivity threshold that makes 24 simulated hours look like 24 hours."""
    return round(max(0.1, 24.0 / max(speed, 1.0)), 3)


def seed_registry(settings: Settings, simulation: Simulation, speed: float) -> DemoSeed:
    """Register the demo's centers, households, residents, contacts, gateways and devices.

    Raises:
        RegistryUnavailable: the registry package is not installed.
    """
    try:
        from devices import equipment, residents, service
        from devices.models import CareCenter, Device, Gateway, Household
        from devices.unit_of_work import registry_session
    except ImportError as exc:
        raise RegistryUnavailable(
            f"the registry (devices package) is not available: {exc}"
        ) from None
    created = existing = 0
    hours = demo_inactivity_hours(speed)
    with registry_session(settings) as session:
        for center, dongs in CARE_CENTERS.items():
            if session.get(CareCenter, center) is None:
                service.create_care_center(
                    session,
                    center,
                    _CENTER_NAMES[center],
                    dongs=dongs,
                    duty_phone=f"02-555-01{center[-2:]}",
                    email=f"duty-{center}@example.org",
                )
        for household in simulation.households:
            hh = household.household_id
            profile = simulation.profile(hh)
            if session.get(Household, hh) is None:
                created += 1
                rng = random.Random(hh)
                name = rng.choice(_FAMILY) + rng.choice(_GIVEN)
                service.create_household(
                    session,
                    household.care_center_id,
                    household.dong,
                    household_id=hh,
                    address=f"서울 {household.dong} {rng.randint(1, 300)}-{rng.randint(1, 40)}",
                    inactivity_hours=hours,
                    quiet_hours=_quiet(profile.bed, profile.wake),
                    notes="demo household (simulated)",
                )
                residents.add_resident(
                    session,
                    hh,
                    name,
                    phone=f"010-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
                    birth_date=date(
                        rng.randint(1935, 1960), rng.randint(1, 12), rng.randint(1, 28)
                    ),
                    consent=True,
                )
                residents.add_contact(
                    session,
                    hh,
                    1,
                    "담당 생활지원사 (care worker)",
                    relation="care_worker",
                    phone="010-2000-0001",
                )
                residents.add_contact(
                    session,
                    hh,
                    2,
                    "센터 당직 (center duty)",
                    relation="center",
                    phone="02-555-0100",
                )
                residents.add_contact(
                    session,
                    hh,
                    3,
                    rng.choice(_FAMILY) + "민준 (family)",
                    relation="child",
                    email=f"family-{hh}@example.org",
                )
            else:
                existing += 1
            if session.get(Gateway, household.gateway_id) is None:
                equipment.create_gateway(session, hh, gateway_id=household.gateway_id)
            for device in household.devices:
                if device.kind == "gateway" or session.get(Device, device.device_id) is not None:
                    continue
                equipment.add_device(
                    session,
                    hh,
                    device.kind,
                    device.source_format.value,
                    device.mqtt_topic,
                    device_id=device.device_id,
                    gateway_id=household.gateway_id,
                    room=device.room,
                    reporting_interval_s=device.reporting_interval_s,
                )
    accounts_file = _ensure_accounts(settings)
    return DemoSeed(created, existing, accounts_file)


def _quiet(bed: float, wake: float) -> str:
    def hhmm(seconds: float) -> str:
        seconds %= DAY
        return f"{int(seconds // HOUR):02d}:{int(seconds % HOUR // 60):02d}"

    return f"{hhmm(bed)}-{hhmm(wake)}"


def demo_accounts() -> list[tuple[str, str, str, str | None]]:
    """The demo's people: (user name, display name, role, care center)."""
    people: list[tuple[str, str, str, str | None]] = [
        ("demo.admin", "데모 관리자", "admin", None),
        ("demo.operator", "구청 운영 (데모)", "operator", None),
        ("demo.installer", "설치 기사 (데모)", "installer", None),
    ]
    for center in CARE_CENTERS:
        people.append((f"lead.{center}", f"{center} 센터장 (데모)", "lead", center))
        people.append((f"staff.{center}", f"{center} 직원 (데모)", "staff", center))
    return people


def _ensure_accounts(settings: Settings) -> Path:
    """Create the demo accounts once; the file keeps their passwords (the registry hashes)."""
    from devices import accounts
    from devices.exceptions import NotFound
    from devices.principals import Principal, Role
    from devices.unit_of_work import registry_session

    path = settings.data_dir / "demo" / "accounts.txt"
    if path.exists():
        return path
    seeder = Principal("demo", Role.ADMIN, None, "anbu simulate --demo")
    lines = ["# anbu demo accounts: sign in at /signin (user name, password, role, center)"]
    with registry_session(settings, publish=False, mqtt=False) as session:
        for username, name, role, center in demo_accounts():
            try:
                made = accounts.reset_password(session, seeder, username)
            except NotFound:  # the usual case: a first start
                made = accounts.create_account(session, seeder, username=username,
                                               display_name=name, role=role,
                                               care_center_id=center)
            lines.append(f"{username}\t{made.password}\t{role}\t{center or '*'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("\n".join(lines) + "\n")
    return path


def demo_simulation(households: int, seed: int) -> Simulation:
    """Households living from now on, for ever, with a few collapses planned.

    About one household in eight collapses between one and three simulated days in.
    """
    simulation = Simulation(
        SimulationConfig(households=households, days=None, seed=seed, start=utcnow())
    )
    rng = random.Random(f"demo:{seed}")
    for member in simulation.members:
        if rng.random() < 0.125:
            at = simulation.start_epoch + rng.uniform(1.0, 3.0) * DAY
            hour = (at / HOUR + 9) % 24
            if 8 <= hour < 20:
                member.plan.collapse_at = at
                log.info(
                    "demo: %s will collapse at simulated %s",
                    member.household.household_id,
                    from_epoch(at).astimezone(SEOUL).strftime("%Y-%m-%d %H:%M"),
                )
    return simulation


def sos_presses(simulation: Simulation, every_s: float, seed: int) -> Iterator[SimEvent]:
    """SOS button presses: one every ``every_s`` simulated seconds on average, for ever."""
    rng = random.Random(f"demo-sos:{seed}")
    households = simulation.households
    t = simulation.start_epoch
    while households:
        t += rng.expovariate(1.0 / every_s)
        household = rng.choice(households)
        yield SimEvent(
            t,
            household.household_id,
            household.device("button-sos").device_id,
            "sos",
            1.0,
            "demo SOS button",
        )


def device_index(simulation: Simulation) -> dict[str, SimDevice]:
    """Every simulated device by id."""
    return {d.device_id: d for h in simulation.households for d in h.devices}


def run_forever(
    settings: Settings, households: int, speed: float, seed: int, stop: threading.Event
) -> None:
    """Seed the registry, then publish live traffic until ``stop`` is set."""
    import heapq

    from simulator.publish import connect, publish

    simulation = demo_simulation(households, seed)
    seed_info = seed_registry(settings, simulation, speed)
    log.info(
        "demo registry: %d household(s) created, %d already there; sign-in accounts in %s",
        seed_info.created_households,
        seed_info.existing_households,
        seed_info.accounts_file,
    )
    if not simulation.households:
        stop.wait()  # nothing to publish; stay up so the supervisor does not restart us
        return
    from simulator.checkin import CheckinResponder

    client = connect(settings, f"anbu-demo-{seed}")
    wall0 = time.time()
    CheckinResponder(
        client, simulation, lambda: simulation.start_epoch + (time.time() - wall0) * speed
    ).start()
    try:
        events = heapq.merge(simulation.events(), sos_presses(simulation, 6 * HOUR, seed))
        publish(
            client,
            events,
            device_index(simulation),
            sim_start=simulation.start_epoch,
            speed=speed,
            stop=stop,
        )
    finally:
        client.loop_stop()
        client.disconnect()
