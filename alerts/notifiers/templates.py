"""Rendering the Korean and English notification templates (Jinja2, ``alerts/templates``)."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from alerts.messages import alert_context
from alerts.model import Alert


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("alerts", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # plain-text e-mail and SMS, never HTML
    )


def render(name: str, alert: Alert, tier: int, inbox_url: str | None) -> str:
    """Render template ``name`` for ``alert`` at ``tier``."""
    return _environment().get_template(name).render(alert_context(alert, tier, inbox_url))
