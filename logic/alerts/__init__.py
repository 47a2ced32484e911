"""Alerts: detectors, rules, filters, the Slack outbox and the escalation ladder."""
