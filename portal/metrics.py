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
