"""Prometheus metrics of the captive portal: what citizens do, never who."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS = Counter(
    "sesame_portal_events",
    "Portal events by kind and result (sign-up, log-in, verification, reset, arrival, hand-off)",
    ["event", "result"],
)
THROTTLED = Counter("sesame_portal_throttled", "Requests refused by the rate limits, by action", ["action"])


def count(event: str, result: str) -> None:
    EVENTS.labels(event, result).inc()


SMS_SENT = Counter(
    "sesame_sms_sent", "SMS handed to the gateway, by result (sent, or the kind of failure)", ["result"]
)
SMS_BUDGET_REFUSED = Counter(
    "sesame_sms_budget_refused",
    "SMS not sent because a daily budget is spent, by budget ('*': the region's, or a country)",
    ["budget"],
)
SMS_BUDGET_REACHED = Counter(
    "sesame_sms_budget_reached", "Daily SMS budgets reached (the last SMS of one sent), by budget", ["budget"]
)
