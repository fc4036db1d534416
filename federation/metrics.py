"""Prometheus metrics of the federation (proxying to partners, their home servers' health)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PROXIED = Counter(
    "sesame_federation_proxied",
    "Access-Requests proxied to partner regions, by partner and result",
    ["partner", "result"],
)
REFUSED = Counter(
    "sesame_federation_refused",
    "Requests refused by realm routing before any credential was checked, by reason",
    ["reason"],
)
DROPS = Counter(
    "sesame_federation_drops",
    "Home server replies dropped, and requests not forwarded, by reason",
    ["reason"],
)
LATENCY = Histogram(
    "sesame_federation_proxy_seconds",
    "Time from forwarding a request to a partner to relaying its answer",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
HOME_SERVER_STATE = Gauge(
    "sesame_federation_home_server_alive",
    "1 when a partner's home server is alive (or not yet used), 0.5 zombie, 0 dead",
    ["partner", "server"],
    multiprocess_mode="min",
)
TRANSITIONS = Counter(
    "sesame_federation_home_server_transitions",
    "Home server health changes, by new state",
    ["partner", "server", "state"],
)
RADSEC_CONNECTIONS = Gauge(
    "sesame_federation_radsec_connected",
    "1 while the RadSec connection to a home server is up",
    ["partner", "server"],
    multiprocess_mode="max",
)
ACCOUNTING_FORWARDED = Counter(
    "sesame_federation_accounting_forwarded",
    "Accounting-Requests of visitors forwarded to their partner (after being recorded here), by outcome",
    ["partner", "outcome"],
)


_children: dict[tuple[Counter, tuple[str, ...]], Counter] = {}


def count(metric: Counter, *labels: str) -> None:
    """Count with labels; each labelled child is looked up once (``labels()`` takes a lock and
    showed in profiles of the proxy at a few percent of its CPU)."""
    child = _children.get((metric, labels))
    if child is None:
        child = _children[(metric, labels)] = metric.labels(*labels)
    child.inc()
