"""The alert lifecycle: detector events in, state changes and queued notifications out.

One active alert per household and kind; a repeat or update changes it without notifying
again. Detector events are deduplicated by alert id and action (and content, for updates),
durably, so a restarted detector repeating itself changes nothing. Every state change and
its notifications are written in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from alerts import metrics
from alerts.directory import Directory
from alerts.model import (
    INACTIVITY_KINDS,
    QUIET_HOME_KINDS,
    Alert,
    AlertState,
    HistoryLabel,
    HouseholdPolicy,
)
from alerts.notifiers.voicebot import CallOutcome, call_target
from alerts.routing import Channels, tier_targets
from alerts.store import AlertStore, alert_scope
from anbu.events import HEALTH_KINDS, AlertAction, AlertEvent
from config import Settings

__all__ = ["DETECTOR", "RESIDENT", "SYSTEM", "Channels", "Lifecycle", "Outcome"]

DETECTOR = "detector"
RESIDENT = "resident"
SYSTEM = "system"


@dataclass(slots=True)
class Outcome:
    """What applying one detector event did."""

    duplicate: bool = False
    alert: Alert | None = None
    created: bool = False
    updated: bool = False
    closed: bool = False
    ignored: str | None = None
    notifications: list[str] = field(default_factory=list)


def _dedupe_key(event: AlertEvent) -> str:
    if event.action is AlertAction.UPDATE:
        content = json.dumps(
            [event.severity.value, event.reason, event.reason_ko, event.details],
            sort_keys=True,
        )
        digest = hashlib.blake2b(content.encode(), digest_size=10).hexdigest()
        return f"{event.alert_id}:update:{digest}"
    return f"{event.alert_id}:{event.action.value}"


@dataclass(eq=False)  # compared and hashed by identity
class Lifecycle:
    """Applies detector events and staff actions to the store.

    Args:
        store: the alert store.
        directory: the registry (household settings, contacts, robots).
        channels: which notifiers exist.
        default_delay_s: escalation delay per tier for a household the registry has not
            told us about yet (its alert is not held back for that).
        checkin_timeout_s: how long to wait for the robot check-in's answer.
        voicebot_timeout_s: how long to wait for a voice-bot call's outcome.
    """

    store: AlertStore
    directory: Directory
    channels: Channels
    _: KW_ONLY
    default_delay_s: float = 900.0
    checkin_timeout_s: float = 120.0
    voicebot_timeout_s: float = 300.0

    @classmethod
    def from_settings(
        cls, settings: Settings, store: AlertStore, directory: Directory
    ) -> Lifecycle:
        """Build a lifecycle with the channels configured in ``settings``."""
        section = settings.alerts
        channels = Channels(
            webhook_url=section.webhook_url,
            email=bool(section.smtp_host),
            sms=bool(section.sms_gateway_url),
            robot=True,
            voicebot=bool(section.voicebot_url and section.voicebot_secret),
        )
        return cls(
            store,
            directory,
            channels,
            default_delay_s=section.escalation_delay.total_seconds(),
            checkin_timeout_s=section.checkin_timeout.total_seconds(),
            voicebot_timeout_s=section.voicebot_timeout.total_seconds(),
        )

    def policy(self, household_id: str) -> HouseholdPolicy:
        """The household's settings, or defaults that still escalate if it is unknown."""
        found = self.directory.policy(household_id)
        if found is not None:
            return found
        delay = int(self.default_delay_s)
        return HouseholdPolicy("", "", (delay, delay, delay), False, 3)

    # --- detector events -----------------------------------------------------------------

    def apply(self, event: AlertEvent, now: datetime) -> Outcome:
        """Apply one detector event."""
        with self.store.transaction() as conn:
            if not self.store.mark_seen(conn, _dedupe_key(event), now):
                return Outcome(duplicate=True)
            if event.action is AlertAction.RESOLVE:
                return self._resolve(conn, event, now)
            return self._raise_or_update(conn, event, now)

    def _raise_or_update(self, conn: Connection, event: AlertEvent, now: datetime) -> Outcome:
        mapped = self.store.alert_for_source(conn, event.alert_id)
        if mapped is not None and not mapped.state.active:
            # The episode was already closed (staff resolved it, or activity returned):
            # a late repeat must not reopen or notify.
            return Outcome(alert=mapped, ignored=f"alert already {mapped.state.value}")
        target = mapped or self.store.active_for(
            conn,
            event.household_id,
            event.kind.value,
            alert_scope(event.kind.value, event.device_id),
        )
        if target is not None:
            self.store.map_source(conn, event.alert_id, target.id)
            self.store.touch(
                conn,
                target.id,
                now,
                reason=event.reason,
                reason_ko=event.reason_ko,
                severity=event.severity.value,
                details=dict(event.details),
            )
            return Outcome(alert=target, updated=True)
        # An UPDATE for an alert never seen (its RAISE was lost or predates us) still
        # opens it: missing an alert is the worst failure.
        policy = self.policy(event.household_id)
        # Device and gateway health is for maintenance: it never escalates to emergency tiers.
        delay = None if event.kind in HEALTH_KINDS else policy.delay_at(1)
        alert = Alert(
            id=event.alert_id,
            household_id=event.household_id,
            care_center_id=policy.care_center_id,
            dong=policy.dong,
            kind=event.kind.value,
            severity=event.severity.value,
            state=AlertState.OPEN,
            reason=event.reason,
            reason_ko=event.reason_ko,
            details=dict(event.details),
            device_id=event.device_id,
            raised_at=event.raised_at,
            opened_at=now,
            updated_at=now,
            tier=1,
            tiers=policy.tiers,
            escalation_delays_s=list(policy.escalation_delays_s),
            checkin_enabled=policy.checkin_enabled,
            next_escalation_at=None if delay is None else now + timedelta(seconds=delay),
            checkin_request_id=None,
            checkin_requested_at=None,
            repeats=0,
        )
        self.store.insert_alert(conn, alert)
        self.store.map_source(conn, event.alert_id, alert.id)
        self.store.add_history(
            conn, alert.id, now, HistoryLabel.OPEN, DETECTOR, event.reason, first=True
        )
        queued = self._queue_tier(conn, alert, 1, now)
        return Outcome(alert=alert, created=True, notifications=queued)

    def _resolve(self, conn: Connection, event: AlertEvent, now: datetime) -> Outcome:
        alert = self.store.alert_for_source(conn, event.alert_id)
        if alert is None:
            return Outcome(ignored="resolve for an alert never raised here")
        if not alert.state.active:
            return Outcome(alert=alert, ignored=f"alert already {alert.state.value}")
        resolved_by = str(event.details.get("resolved_by", "activity"))
        if resolved_by == "checkin_answer":
            state, actor = AlertState.FALSE_ALARM, RESIDENT
            note = str(event.details.get("reason") or event.reason)
        else:
            state, actor = AlertState.AUTO_RESOLVED, DETECTOR
            note = event.reason
        closed = self.store.close_alert(conn, alert.id, state, now, actor, note)
        return Outcome(alert=closed, closed=True)

    # --- escalation ----------------------------------------------------------------------

    def escalate_due(self, now: datetime) -> list[str]:
        """Escalate every open alert past its deadline; return queued notification ids."""
        queued: list[str] = []
        for alert in self.store.due_for_escalation(now):
            with self.store.transaction() as conn:
                queued.extend(self._escalate(conn, alert, now))
        return queued

    def _escalate(self, conn: Connection, alert: Alert, now: datetime) -> list[str]:
        if (
            alert.kind in INACTIVITY_KINDS
            and alert.checkin_enabled
            and alert.checkin_request_id is None
            and self.channels.robot
            and self.directory.robot_topic(alert.household_id)
        ):
            request_id = uuid.uuid4().hex
            return self._ask_first(
                conn,
                alert,
                now,
                channel="robot",
                target=f"checkin:{request_id}",
                wait_s=self.checkin_timeout_s,
                note="asked the care robot to check in",
                checkin_request_id=request_id,
            )
        if (
            alert.kind in QUIET_HOME_KINDS
            and alert.checkin_enabled
            and self.channels.voicebot
            and not self.store.has_channel(conn, alert.id, "voicebot")
        ):
            # No robot, or the robot got no answer: the voice bot phones the resident.
            return self._ask_first(
                conn,
                alert,
                now,
                channel="voicebot",
                target=call_target(uuid.uuid4().hex),
                wait_s=self.voicebot_timeout_s,
                note="asked the voice bot to call the resident",
            )
        return self._advance(conn, alert, now, f"not acknowledged at tier {alert.tier}")

    def _ask_first(
        self,
        conn: Connection,
        alert: Alert,
        now: datetime,
        *,
        channel: str,
        target: str,
        wait_s: float,
        note: str,
        checkin_request_id: str | None = None,
    ) -> list[str]:
        """Ask the resident (robot or call) and hold the escalation for ``wait_s``."""
        if not self.store.set_escalation(
            conn,
            alert,
            tier=alert.tier,
            next_at=now + timedelta(seconds=wait_s),
            checkin_request_id=checkin_request_id,
            checkin_at=now if checkin_request_id else None,
        ):
            return []
        self.store.add_history(
            conn,
            alert.id,
            now,
            HistoryLabel.CHECKIN_REQUESTED,
            SYSTEM,
            f"{note}; waiting {wait_s:g} s",
        )
        ident = self.store.add_notification(conn, alert.id, alert.tier, channel, target, now)
        metrics.ESCALATIONS.labels("checkin" if channel == "robot" else channel).inc()
        return [ident] if ident else []

    def _advance(self, conn: Connection, alert: Alert, now: datetime, why: str) -> list[str]:
        """Escalate to the next tier (if there is one) and queue its notifications."""
        policy = alert.policy
        if alert.tier >= policy.tiers:
            self.store.set_escalation(conn, alert, tier=alert.tier, next_at=None)
            return []
        tier = alert.tier + 1
        delay = policy.delay_at(tier)
        if not self.store.set_escalation(
            conn,
            alert,
            tier=tier,
            next_at=None if delay is None else now + timedelta(seconds=delay),
        ):
            return []
        self.store.add_history(
            conn,
            alert.id,
            now,
            HistoryLabel.ESCALATED,
            SYSTEM,
            f"{why}; escalated to tier {tier}",
        )
        alert.tier = tier
        metrics.ESCALATIONS.labels("tier").inc()
        return self._queue_tier(conn, alert, tier, now)

    # --- voice-bot call outcomes ----------------------------------------------------------

    def call_outcome(self, call_id: str, outcome: CallOutcome, now: datetime) -> Outcome:
        """Apply the provider's report on a check-in call (already authenticated).

        ``answered_well`` closes the alert as a false alarm with the reason kept;
        ``asked_for_help`` makes it critical and escalates at once; ``no_answer`` and
        ``unreachable`` escalate at once. A repeated report changes nothing.
        """
        with self.store.transaction() as conn:
            requested = self.store.notification_for(conn, "voicebot", call_target(call_id))
            if requested is None:
                return Outcome(ignored="no such call")
            if not self.store.mark_seen(conn, f"voicebot:{call_id}:{outcome.value}", now):
                return Outcome(duplicate=True)
            alert = self.store.alert_in(conn, requested.alert_id)
            if alert is None:
                return Outcome(ignored="the call's alert is gone")
            if not alert.state.active:
                return Outcome(alert=alert, ignored=f"alert already {alert.state.value}")
            if outcome is CallOutcome.ANSWERED_WELL:
                closed = self.store.close_alert(
                    conn,
                    alert.id,
                    AlertState.FALSE_ALARM,
                    now,
                    RESIDENT,
                    "voice-bot call answered: well",
                )
                return Outcome(alert=closed, closed=True)
            if outcome is CallOutcome.ASKED_FOR_HELP:
                self.store.set_severity(conn, alert.id, "critical", now)
                alert.severity = "critical"
                why = "the resident asked for help on the voice-bot call; raised to critical"
            else:
                why = f"voice-bot call: {outcome.value.replace('_', ' ')}"
            if alert.state is not AlertState.OPEN:
                # Staff already acknowledged it: they hear of the call in the history.
                self.store.add_history(conn, alert.id, now, HistoryLabel.ESCALATED, SYSTEM, why)
                return Outcome(alert=alert, updated=True)
            queued = self._advance(conn, alert, now, why)
            return Outcome(alert=alert, updated=True, notifications=queued)

    def _queue_tier(self, conn: Connection, alert: Alert, tier: int, now: datetime) -> list[str]:
        targets = tier_targets(self.channels, self.directory, alert, tier)
        queued = []
        for channel, target in targets:
            ident = self.store.add_notification(conn, alert.id, tier, channel, target, now)
            if ident:
                queued.append(ident)
        return queued

    # --- staff actions -------------------------------------------------------------------

    def acknowledge(self, alert_id: str, actor: str, note: str, now: datetime) -> Alert:
        """Staff take responsibility; escalation stops.

        Raises:
            AlertNotFound: no such alert.
            TransitionRefused: the alert is not open.
        """
        with self.store.transaction() as conn:
            return self.store.acknowledge(conn, alert_id, now, actor, note)

    def close(
        self, alert_id: str, state: AlertState, actor: str, note: str, now: datetime
    ) -> Alert:
        """Staff resolve an alert or mark it a false alarm.

        Raises:
            AlertNotFound: no such alert.
            TransitionRefused: the alert is already closed.
        """
        if state not in (AlertState.RESOLVED, AlertState.FALSE_ALARM):
            raise ValueError(f"staff cannot set {state.value}")
        with self.store.transaction() as conn:
            return self.store.close_alert(conn, alert_id, state, now, actor, note)
