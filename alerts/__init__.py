"""Alerts: lifecycle, escalation, notifiers and the care-center inbox."""
