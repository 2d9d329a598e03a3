"""The alerts service's notifiers, one per channel the settings configure.

Split from :mod:`alerts.service` (which still exports both names): what is built from the
``[alerts]`` settings, and where the voice-bot provider reports a call's outcome.
"""

from __future__ import annotations

from typing import Any

from alerts.directory import Directory
from alerts.notifiers import Notifier
from alerts.notifiers.checkin import CheckinNotifier
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.sms import SmsNotifier
from alerts.notifiers.voicebot import VoicebotNotifier
from alerts.notifiers.webhook import WebhookNotifier
from alerts.voicebot_callback import PATH as CALLBACK_PATH
from config import Settings


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def build_notifiers(settings: Settings, directory: Directory) -> dict[str, Notifier]:
    """The notifiers ``settings`` configure, by channel."""
    section = settings.alerts
    timeout = section.notify_timeout.total_seconds()
    notifiers: dict[str, Notifier] = {
        "webhook": WebhookNotifier(
            directory,
            section.webhook_url,
            _secret(section.webhook_secret),
            section.inbox_url,
            timeout,
        ),
        "robot": CheckinNotifier(
            directory,
            settings.mqtt.host,
            settings.mqtt.port,
            settings.mqtt.username,
            settings.mqtt_password(),
            timeout,
        ),
    }
    if section.smtp_host:
        notifiers["email"] = EmailNotifier(
            directory,
            section.smtp_host,
            section.smtp_port,
            section.smtp_from,
            section.smtp_username,
            _secret(section.smtp_password),
            section.inbox_url,
            timeout,
        )
    if section.sms_gateway_url:
        notifiers["sms"] = SmsNotifier(
            directory,
            section.sms_gateway_url,
            _secret(section.sms_api_key),
            section.sms_api_key_header,
            section.inbox_url,
            timeout,
        )
    if section.voicebot_url and section.voicebot_secret:
        notifiers["voicebot"] = VoicebotNotifier(
            directory,
            str(section.voicebot_url),
            section.voicebot_secret.get_secret_value(),
            callback_url(settings),
            timeout,
        )
    return notifiers


def callback_url(settings: Settings) -> str | None:
    """Where the voice-bot provider reports a call's outcome."""
    section = settings.alerts
    if section.voicebot_callback_url:
        return str(section.voicebot_callback_url)
    if section.voicebot_callback_port:
        host = section.voicebot_callback_host
        return f"http://{host}:{section.voicebot_callback_port}{CALLBACK_PATH}"
    return None
