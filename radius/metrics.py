"""Prometheus metrics of the RADIUS server (the asyncio layer updates them; the core keeps its own
counters for tests). With several worker processes, prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by the supervisor) adds up every worker's values."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("sesame_radius_requests", "RADIUS requests received, by port and code", ["port", "code"])
DROPS = Counter("sesame_radius_drops", "RADIUS packets dropped without an answer, by reason", ["reason"])
DECISIONS = Counter(
    "sesame_radius_decisions", "Authentication decisions, by method and result", ["method", "result"]
)
DUPLICATES = Counter("sesame_radius_duplicates_answered", "Retransmissions answered from the duplicate cache")
LATENCY = Histogram(
    "sesame_radius_decision_seconds",
    "Time from receiving a request to sending its reply",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CLIENTS = Gauge("sesame_radius_clients", "Access points loaded", multiprocess_mode="max")
RECORDS_DROPPED = Counter(
    "sesame_radius_records_dropped", "Decision records lost while the database was away"
)


_children: dict[tuple[Counter, tuple[str | int, ...]], Counter] = {}


def _inc(metric: Counter, *labels: str | int) -> None:
    """Count with labels; each labelled child is looked up once (``labels()`` takes a lock)."""
    child = _children.get((metric, labels))
    if child is None:
        child = _children[(metric, labels)] = metric.labels(*labels)
    child.inc()


def decision(method: str, result: str) -> None:
    _inc(DECISIONS, method, result)


def request(port: str, code: int) -> None:
    _inc(REQUESTS, port, code)
