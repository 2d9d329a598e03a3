"""The weekly review's tests' material: weeks of a household's life as rows.

Days are counted from a Monday (Seoul), rows are (epoch s, household, device, kind, value).
"""

from __future__ import annotations

from datetime import datetime

from anbu.timeutil import SEOUL

Row = tuple[float, str, str, str, float]
DAY = 86400.0
HOUR = 3600.0
MONDAY = datetime(2026, 1, 5, tzinfo=SEOUL).timestamp()
WEEKS = 9


def day_rows(hid: str, day: int, *, out: bool, quiet: bool = False, door: bool = True) -> list[Row]:
    """One day: moving about 07-22 h every 10 min, an outing 10-12 h on ``out`` days.

    ``quiet``: nobody moves (a trip's day, or a day lying still at home).
    """
    base = MONDAY + day * DAY
    rows: list[Row] = []
    if quiet:
        return rows
    for minute in range(7 * 60, 22 * 60, 10):
        t = base + minute * 60
        if out and 10 * HOUR <= t - base < 12 * HOUR:
            continue
        rows.append((t, hid, f"{hid}-motion", "motion", 1.0))
        rows.append((t + 90, hid, f"{hid}-motion", "motion", 0.0))
    rows.append((base + 2.5 * HOUR, hid, f"{hid}-motion", "motion", 1.0))  # a night visit
    if out and door:
        rows.append((base + 10 * HOUR, hid, f"{hid}-door", "door", 1.0))
        rows.append((base + 10 * HOUR + 20, hid, f"{hid}-door", "door", 0.0))
        rows.append((base + 12 * HOUR, hid, f"{hid}-door", "door", 1.0))
        rows.append((base + 12 * HOUR + 20, hid, f"{hid}-door", "door", 0.0))
    return rows


def heartbeats(hid: str, days: int) -> list[Row]:
    """The gateway's hourly heartbeats over ``days`` days."""
    return [(MONDAY + h * HOUR, hid, f"{hid}-gw", "heartbeat", 1.0) for h in range(days * 24)]


def weeks(hid: str, outings_last: int, *, usual: int = 5) -> list[Row]:
    """``WEEKS`` weeks going out ``usual`` days a week, the last one ``outings_last``."""
    rows = heartbeats(hid, WEEKS * 7)
    for day in range(WEEKS * 7):
        week, weekday = divmod(day, 7)
        outings = outings_last if week == WEEKS - 1 else usual
        rows += day_rows(hid, day, out=weekday < outings)
    return rows


def trip_week(hid: str, *, door: bool, sensors_heard: bool) -> list[Row]:
    """Eight usual weeks, then a last week with four quiet days (Tue-Fri).

    ``door``: they leave through the entrance door on Monday and come back through it on
    Saturday (a trip). ``sensors_heard``: a battery report every hour through the quiet days
    (the home's sensors run while nobody moves: someone lying still at home).
    """
    rows = heartbeats(hid, WEEKS * 7)
    last = (WEEKS - 1) * 7
    for day in range(WEEKS * 7):
        weekday = day % 7
        if day < last:
            rows += day_rows(hid, day, out=weekday < 5)
        elif last + 1 <= day <= last + 4:
            rows += day_rows(hid, day, out=False, quiet=True)
        elif day == last:  # Monday: leave at 10:00 (through the door or not), no return
            leaving = MONDAY + day * DAY + 10 * HOUR
            rows += [r for r in day_rows(hid, day, out=False) if r[0] < leaving]
            if door:
                rows.append((MONDAY + day * DAY + 10 * HOUR, hid, f"{hid}-door", "door", 1.0))
                rows.append((MONDAY + day * DAY + 10 * HOUR + 20, hid, f"{hid}-door", "door", 0.0))
        else:
            saturday = MONDAY + (last + 5) * DAY
            if day == last + 5:
                if door:
                    rows.append((saturday + 6 * HOUR, hid, f"{hid}-door", "door", 1.0))
                # home on Saturday morning: nothing moves before then
                rows += [r for r in day_rows(hid, day, out=False) if r[0] > saturday + 6 * HOUR]
            else:
                rows += day_rows(hid, day, out=False)
    if sensors_heard:
        quiet = MONDAY + last * DAY + 11 * HOUR
        rows += [(quiet + h * HOUR, hid, f"{hid}-motion", "battery", 80.0) for h in range(100)]
    return rows
