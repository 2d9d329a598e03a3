"""Settings of the detector worker (``[detectors]``).

Its defaults for households without their own settings, the routine models' parameters
and its checkpoints.

The largest section, so in a module of its own; :mod:`config.sections` still exports it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from config.types import Duration, Port, Section


class DetectorSettings(Section):
    """The detector worker and its defaults for households without their own settings."""

    app_id: str = "anbu-detectors"
    default_inactivity_hours: float = Field(default=24.0, gt=0)
    tick_interval: Duration = timedelta(milliseconds=250)
    checkpoint_records: int = Field(default=2000, ge=1)
    """Save a partition's households and offsets after this many records ..."""
    checkpoint_interval: Duration = timedelta(seconds=1)
    """... or this long after its last save, whichever comes first (a crash replays at most this
    much; duplicates of its alerts are dropped downstream)."""
    store: str = "rocksdb://"
    web_port: Port = 6066
    hot_households: int = Field(default=10_000, ge=0)
    """Households the worker keeps as objects, shared evenly by its input partitions' engines; the
    others are kept packed, about 0.55 KB instead of 2 KB, and unpacked (about 10 µs) when an event
    or deadline needs them. 0 keeps all of them unpacked."""
    # Routine-aware inactivity (see docs/detectors.md).
    routine_model: Literal["silences", "rates"] = "silences"
    """silences: learn how long this resident's quiet spells last by time of day and context,
    thresholds from alert_budget; rates: the older model of active 5-minute slots an hour (Poisson),
    kept for comparison."""
    alert_budget: float = Field(default=5.0, gt=0, le=100)
    """silences model: routine alerts in ordinary life per 100 household-days the thresholds are
    chosen for (5 for ask-first homes with a robot or voice-bot check-in; 1 for homes where an alert
    goes straight to a care worker). not_back follows it: at 1, it waits 1.54 times as long as at 5
    (not_back_factor is for 5)."""
    silence_min: Duration = timedelta(minutes=30)
    """silences model: shorter gaps between activities are not learned."""
    silence_min_days: float = Field(default=1.0, gt=0)
    """silences model: days learned before it judges (the prior carries it; days learned are the
    time covered by gaps under 24 h, so a home 3 days old has learned about 2: at 3, most homes were
    judged only from day 4 or 5)."""
    silence_prior_days: float = Field(default=5.0, ge=0)
    """silences model: weight of the population prior, in days."""
    silence_half_life_weeks: float = Field(default=8.0, gt=0)
    """silences model: how fast old silences are forgotten."""
    silence_floor: Duration = timedelta(hours=1)
    """silences model: no routine alert for a shorter silence."""
    silence_room_prior: float = Field(default=1.0, ge=0)
    """silences model: judge a daytime silence also by the sensor of the last activity (how often
    and how long silences begin there, per hour the resident is seen there), shrunk to the home's
    average by this many pseudo-silences; 0 leaves the room out (docs/benchmarks.md, 'The room
    floor')."""
    silence_room_floor: float = Field(default=4.0, ge=0)
    """silences model, with the room: a room whose spells are shorter than the home's never shortens
    a threshold below where the home's own spell lengths, at the room's rate, would raise this many
    times the alert budget; 0 leaves it out (docs/detectors.md, 'The room floor')."""
    routine_threshold: float = Field(default=1e-5, gt=0, lt=1)
    """Alert when the current silence is less probable than this under the resident's learned
    routine (Poisson: exp(-expected active slots))."""
    routine_min_silence: Duration = timedelta(hours=2)
    """No routine alert for a shorter silence."""
    routine_slot: Duration = timedelta(minutes=5)
    """Activity is counted as active slots of this length, so bursts and duplicates do not inflate
    the learned rate."""
    routine_min_observations: int = Field(default=2, ge=1)
    """Observations of an hour-of-week bin before it is trusted."""
    routine_min_days: float = Field(default=7.0, gt=0)
    """Days of history before the routine model is used."""
    partly_blind_factor: float = Field(default=2.0, ge=1)
    """While some activity sensors are silent, routine-aware inactivity expects only 1/this of the
    usual activity and waits this many times the minimum silence."""
    routine_half_life_weeks: float = Field(default=4.0, gt=0)
    """How fast an old routine is forgotten."""
    out_grace: Duration = timedelta(minutes=10)
    """Silence inside this long after the entrance door means the resident went out."""
    not_back_floor: Duration = timedelta(hours=3)
    not_back_factor: float = Field(default=2.0, gt=1)
    """not_back after this many times the length 9 in 10 of the resident's outings stay under (at
    least not_back_floor, at most not_back_max)."""
    not_back_max: Duration = timedelta(hours=24)
    long_outing_prior: Duration = timedelta(hours=4)
    """The length 9 in 10 outings stay under, assumed until the resident's own is learned."""
    away_grace: Duration = timedelta(hours=1)
    """Wait this long after an away period ends."""
    recovery_grace: Duration = timedelta(minutes=30)
    """After a blind household is seen again, wait this long for activity before an inactivity alert
    that the outage held back."""
    gateway_missed_heartbeats: float = Field(default=3.0, gt=1)
    default_heartbeat_interval: Duration = timedelta(seconds=60)
    device_silent_factor: float = Field(default=2.0, gt=1)
    battery_low_percent: float = 15.0
    battery_ok_percent: float = 25.0
    sos_merge: Duration = timedelta(minutes=5)
    """Presses this close are one SOS episode."""
    plug_on_watts: float = 10.0
    plug_step_watts: float = 40.0
    plug_step_ratio: float = 0.5
    plug_warmup: Duration = timedelta(hours=72)
    """A plug counts as activity only after it has been watched this long and did not cycle on by
    itself at night (a fridge is not a person)."""
    event_time_margin: Duration = timedelta(minutes=2)
    """A record on the events topic with an event time further ahead of the worker's wall clock than
    ingest.device_time_window plus this is dead-lettered (reason event_time_ahead) and moves no
    clock; an SOS that far ahead is kept, its time set to when Kafka took it (or to the wall
    clock)."""
    # A broker restart takes seconds and a rolling restart of a three-broker cluster a few
    # minutes; 15 min covers both with room. Past it, holding the clock would hide real
    # collapses for as long as the outage lasts (or for ever, when the probe is wrong and
    # the worker in fact reads), and an inactivity threshold of hours loses at most this.
    outage_max_freeze: Duration = timedelta(minutes=15)
    """While Kafka is unreachable the detectors' clock waits, at most this long; then it moves again
    (gateway and device silence stays unjudged until Kafka is back) and an error is logged."""
    broker_session_timeout: float = 6.0
    broker_heartbeat_interval: float = 1.0
    broker_rebalance_timeout: float = 5.0
    standby_replicas: int = Field(default=1, ge=0)
    """Standby copies of each partition's household state that other workers keep up to date from
    the changelog (Faust's table_standby_replicas), so a worker taking over a partition after a
    crash need not read its whole changelog first (docs/scaling.md)."""
