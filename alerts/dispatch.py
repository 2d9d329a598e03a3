"""Delivering queued notifications: each on its own, with retries and backoff.

Every notification runs in its own task, so a slow SMTP server never delays a webhook and
a failing SMS gateway never blocks an e-mail. Each attempt's outcome is written to the
store (the inbox shows failures) and counted in the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from alerts import metrics
from alerts.exceptions import AlertNotFound, NotifyError
from alerts.lifecycle import SYSTEM
from alerts.model import AlertState, HistoryLabel, NotificationStatus
from alerts.notifiers import Notifier
from alerts.store import AlertStore
from anbu.timeutil import utcnow

log = logging.getLogger(__name__)


HOLDING_CHANNELS = frozenset({"voicebot"})
"""Channels whose notification holds the escalation while it waits for an answer (the
voice-bot call): if it cannot be sent, there is no answer to wait for."""

CLAIM_MARGIN_S = 0.5
"""Room for clocks and the store's round trip at the edges of a claim's lease."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, NotifyError) and exc.retryable


class Dispatcher:
    """Sends pending notifications from the store through the configured notifiers.

    Args:
        store: the alert store.
        notifiers: by channel name.
        attempts: tries per notification before giving up.
        backoff_max_s: longest wait between tries (exponential from 0.5 s).
        concurrency: most deliveries in progress at once per channel.
        send_timeout_s: longest one attempt may take (``alerts.notify_timeout``).
    """

    def __init__(
        self,
        store: AlertStore,
        notifiers: Mapping[str, Notifier],
        *,
        attempts: int = 5,
        backoff_max_s: float = 30.0,
        concurrency: int = 32,
        send_timeout_s: float = 10.0,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.attempts = attempts
        self.backoff_max_s = backoff_max_s
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        # Per channel, so a burst of SOS or a slow SMTP server never starves the others;
        # waiting here instead of in the HTTP pool keeps a burst from timing out.
        self._slots: dict[str, asyncio.Semaphore] = {}
        self.concurrency = concurrency
        # a claim covers one try and the wait after it (renewed at each retry), with room
        # for a slow slot: an instance that died hands its sends over within this long. A
        # wait for the slot longer than that is checked before sending (see _hold)
        self.lease_s = backoff_max_s + 2 * send_timeout_s
        self.send_timeout_s = send_timeout_s

    def kick(self) -> int:
        """Start a task for every pending notification not already being sent.

        Also picks up what a previous run left pending; the service calls it now and then,
        and :meth:`send` right after queuing.
        """
        return self.send([n.id for n in self.store.pending_notifications()])

    def send(self, notification_ids: list[str]) -> int:
        """Start delivering these queued notifications (those not already in flight)."""
        started = 0
        for ident in notification_ids:
            if ident in self._in_flight:
                continue
            task = asyncio.create_task(self._deliver(ident))
            self._in_flight[ident] = task
            task.add_done_callback(self._forget(ident))
            started += 1
        return started

    def _forget(self, notification_id: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._in_flight.pop(notification_id, None)

        return done

    @property
    def in_flight(self) -> int:
        """Notifications being sent or waiting for a retry."""
        return len(self._in_flight)

    async def drain(self) -> None:
        """Wait for the notifications in flight."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)

    async def cancel(self) -> None:
        """Stop sending (pending ones stay pending in the store for the next start)."""
        for task in list(self._in_flight.values()):
            task.cancel()
        await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)

    async def _deliver(self, notification_id: str) -> None:
        try:
            await self._deliver_once(notification_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - one broken notifier must not stop the service
            log.exception("notification %s crashed", notification_id)
            self.store.record_attempt(
                notification_id, utcnow(), status=NotificationStatus.FAILED, error="crashed"
            )

    async def _deliver_once(self, notification_id: str) -> None:
        notification = self.store.get_notification(notification_id)
        if notification is None or notification.status is not NotificationStatus.PENDING:
            return
        claimed = [time.monotonic()]  # when the claim this task holds was taken
        if not self.store.claim(notification_id, utcnow(), self.lease_s):
            return  # another alerts service is sending it
        try:
            alert = self.store.get(notification.alert_id)
        except AlertNotFound:
            return
        notifier = self.notifiers.get(notification.channel)
        if notifier is None:
            self.store.record_attempt(
                notification.id,
                utcnow(),
                status=NotificationStatus.FAILED,
                error=f"no {notification.channel} notifier configured",
            )
            metrics.NOTIFICATIONS.labels(notification.channel, "failed").inc()
            return

        def _after_failure(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            metrics.NOTIFY_ATTEMPT_FAILURES.labels(notification.channel).inc()
            log.warning(
                "%s for alert %s (attempt %d): %s",
                notification.target,
                alert.id,
                state.attempt_number,
                exc,
            )
            self.store.record_attempt(
                notification.id,
                utcnow(),
                status=NotificationStatus.PENDING,
                error=str(exc),
                hold_s=self.lease_s,
            )
            claimed[0] = time.monotonic()

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.5, min=0.5, max=self.backoff_max_s),
            retry=retry_if_exception(_retryable),
            before_sleep=_after_failure,
            reraise=True,
        )
        slot = self._slots.setdefault(notification.channel, asyncio.Semaphore(self.concurrency))
        try:
            async for attempt in retrying:
                with attempt:
                    async with slot:
                        if not await self._hold(notification_id, claimed):
                            return  # another alerts service sent it, or is sending it
                        await notifier.send(alert, notification)
        except NotifyError as exc:
            log.error(
                "gave up on %s for alert %s (%s, household %s): %s",
                notification.target,
                alert.id,
                alert.kind,
                alert.household_id,
                exc,
            )
            self.store.record_attempt(
                notification.id, utcnow(), status=NotificationStatus.FAILED, error=str(exc)
            )
            metrics.NOTIFICATIONS.labels(notification.channel, "failed").inc()
            if notification.channel in HOLDING_CHANNELS:
                self._stop_waiting(alert.id, notification.tier, notification.channel, str(exc))
            return
        now = utcnow()
        self.store.record_attempt(notification.id, now, status=NotificationStatus.SENT, error=None)
        metrics.NOTIFICATIONS.labels(notification.channel, "sent").inc()
        metrics.NOTIFY_LATENCY.labels(notification.channel).observe(
            max(0.0, (now - notification.created_at).total_seconds())
        )

    async def _hold(self, notification_id: str, claimed: list[float]) -> bool:
        """Whether this task still holds its claim, with enough of it left for one try.

        The claim is taken before the wait for a sending slot, so that other instances
        skip the notification at once; a queue longer than the lease would let the claim
        expire and another instance send the notification meanwhile. So a claim with too
        little left is let run out and taken again; if another instance took it (or sent
        the notification), this one does not send it.

        Args:
            notification_id: the notification.
            claimed: when the claim was taken (monotonic), updated when taken again.
        """
        left = claimed[0] + self.lease_s - time.monotonic()
        if left >= self.send_timeout_s + CLAIM_MARGIN_S:
            return True
        if left > -CLAIM_MARGIN_S:
            await asyncio.sleep(left + CLAIM_MARGIN_S)  # a claim is taken only once expired
        claimed[0] = time.monotonic()
        return self.store.claim(notification_id, utcnow(), self.lease_s)

    def _stop_waiting(self, alert_id: str, tier: int, channel: str, error: str) -> None:
        """Make the escalation held for a notification that failed due now, saying why.

        The escalation timer then takes the next step at its next tick, as it would have
        after the whole wait (``alerts.voicebot_timeout``) for an answer that cannot come.
        """
        now = utcnow()
        with self.store.transaction() as conn:
            alert = self.store.alert_in(conn, alert_id)
            if (alert is None or alert.state is not AlertState.OPEN or alert.tier != tier
                    or alert.next_escalation_at is None or alert.next_escalation_at <= now):
                return  # acknowledged, closed or escalated meanwhile: nothing waits for it
            if self.store.set_escalation(conn, alert, tier=tier, next_at=now):
                self.store.add_history(
                    conn, alert_id, now, HistoryLabel.ESCALATED, SYSTEM,
                    f"{channel} call not made ({error}); escalating without waiting for it")
