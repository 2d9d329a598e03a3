"""E-mail notifier: one message per tier over SMTP, Korean first, then English."""

from __future__ import annotations

import asyncio
import smtplib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid

from alerts.directory import Directory
from alerts.exceptions import NotifyError
from alerts.messages import label
from alerts.model import Alert, Notification
from alerts.notifiers import addresses
from alerts.notifiers.templates import render


@dataclass(eq=False)  # compared and hashed by identity, as before
class EmailNotifier:
    """Sends one plain-text e-mail to everyone at the tier.

    smtplib runs in a worker thread; a message is small and SMTP servers are few, so a
    dedicated async SMTP library would add a dependency for nothing.

    Args:
        directory: for the tier's addresses (looked up at send time).
        host: SMTP host.
        port: SMTP port.
        sender: the From address.
        username: SMTP login, if the server wants one.
        password: SMTP password.
        inbox_url: link in the message.
        timeout_s: connection timeout.
    """

    channel = "email"

    directory: Directory
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    inbox_url: str | None = None
    timeout_s: float = 10.0
    # Its own threads: a hanging SMTP server must not starve the shared default pool
    # (InfluxDB writes, the robot check-in).
    _threads: ThreadPoolExecutor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="anbu-smtp")

    def message(self, alert: Alert, notification: Notification, to: list[str]) -> EmailMessage:
        """Build the bilingual message."""
        tier = notification.tier
        korean = render("email_ko.txt", alert, tier, self.inbox_url)
        english = render("email_en.txt", alert, tier, self.inbox_url)
        msg = EmailMessage()
        subject_ko = label("kind", alert.kind, "ko")
        subject_en = label("kind", alert.kind, "en")
        msg["Subject"] = (
            f"[안부 {label('severity', alert.severity, 'ko')}] {subject_ko} / {subject_en}"
            f" · {alert.household_id}"
        )
        msg["From"] = self.sender
        msg["To"] = ", ".join(to)
        msg["Message-ID"] = make_msgid(idstring=notification.id, domain="anbu")
        msg["X-Anbu-Alert-Id"] = alert.id
        msg["X-Anbu-Idempotency-Key"] = notification.id
        msg.set_content(korean + "\n----------------------------------------\n\n" + english)
        return msg

    def _deliver(self, msg: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.username and self.password:
                    smtp.starttls()
                    smtp.login(self.username, self.password)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise NotifyError(f"SMTP refused the recipients: {exc}", retryable=False) from exc
        except smtplib.SMTPResponseException as exc:
            raise NotifyError(
                f"SMTP {self.host}:{self.port} answered {exc.smtp_code}",
                retryable=exc.smtp_code >= 400 and exc.smtp_code < 500,
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"SMTP {self.host}:{self.port}: {exc}", retryable=True) from exc

    async def send(self, alert: Alert, notification: Notification) -> None:
        """See :class:`alerts.notifiers.Notifier`."""
        emails = addresses(self.directory, alert, notification.tier, phones=False)
        message = self.message(alert, notification, emails)
        await asyncio.get_running_loop().run_in_executor(self._threads, self._deliver, message)

    async def close(self) -> None:
        """See :class:`alerts.notifiers.Notifier`."""
        self._threads.shutdown(wait=False, cancel_futures=True)
