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
DATABASE_CLOCK_OFFSET = Gauge(
    "sesame_database_clock_offset_seconds",
    "This host's clock minus the database's, at the last poll (PostgreSQL); keep it well under 5 s",
    multiprocess_mode="max",
)
RECORDS_DROPPED = Counter(
    "sesame_radius_records_dropped", "Decision records lost while the database was away"
)
DATABASE_UP = Gauge(
    "sesame_database_up",
    "1 while the database answers the RADIUS process's poll, 0 while it is unreachable",
    multiprocess_mode="livemin",
)
RECORDS_REFUSED = Counter(
    "sesame_radius_records_refused",
    "Records the database refused (logged instead, never retried), by table",
    ["table"],
)
COA_REQUESTS = Counter(
    "sesame_coa_requests",
    "CoA- and Disconnect-Requests sent to access points (RFC 5176), by kind and outcome",
    ["kind", "outcome"],
)
COA_IGNORED = Counter(
    "sesame_coa_responses_ignored",
    "Datagrams ignored while waiting for a CoA or Disconnect answer, by reason",
    ["reason"],
)

ACCOUNTING = Counter(
    "sesame_radius_accounting", "Accounting-Requests received, by Acct-Status-Type", ["status"]
)
ACCOUNTING_BATCH = Histogram(
    "sesame_radius_accounting_batch_records",
    "Accounting records committed per transaction (group commit)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
SESSIONS_CLOSED = Counter(
    "sesame_sessions_closed", "Sessions closed by the server, not by an Accounting Stop", ["reason"]
)
LIMIT_DISCONNECTS = Counter(
    "sesame_sessions_limit_disconnects",
    "Disconnect-Requests sent for sessions over a daily limit",
    ["outcome"],
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


PASSPOINT = Counter(
    "sesame_radius_passpoint_decisions",
    "Decisions on requests from Passpoint access points, by the access point's and the device's "
    "Hotspot 2.0 release and the federation of the Roaming Consortium OI the device matched "
    "(openroaming, eduroam, other, none)",
    ["ap_release", "device_release", "consortium"],
)


def passpoint(ap_release: str, device_release: str, consortium: str) -> None:
    _inc(PASSPOINT, ap_release, device_release, consortium)


def request(port: str, code: int) -> None:
    _inc(REQUESTS, port, code)


def accounting(status: str) -> None:
    _inc(ACCOUNTING, status)


def coa_request(kind: str, outcome: str) -> None:
    _inc(COA_REQUESTS, kind, outcome)


def coa_ignored(reason: str) -> None:
    _inc(COA_IGNORED, reason)


FORWARDED = Counter(
    "sesame_radius_forwarded",
    "Requests handed between worker processes (a conversation held by another worker), by outcome",
    ["outcome"],
)


def forwarded(outcome: str) -> None:
    _inc(FORWARDED, outcome)


EAP_DISCARDED = Counter(
    "sesame_eap_discarded",
    "EAP rounds left unanswered (the access point may retry), by reason",
    ["reason"],
)
EAP_EVICTED = Counter(
    "sesame_eap_evicted",
    "EAP conversations dropped from a full table to let another client's in (radius/eap/server.py)",
)
EAP_CONVERSATIONS = Gauge(
    "sesame_eap_conversations", "EAP conversations held (each with its TLS state)", multiprocess_mode="sum"
)


def eap_discarded(reason: str) -> None:
    _inc(EAP_DISCARDED, reason)


EAP_CERTIFICATE_EXPIRY = Gauge(
    "sesame_eap_certificate_expiry_timestamp_seconds",
    "When the EAP server certificate (server), the device CA (device_ca) in use and each CA devices "
    "pin (ca:<SHA-256 prefix>) expire, Unix time; with several workers the soonest any of them serves",
    ["certificate"],
    multiprocess_mode="livemin",
)
EAP_CERTIFICATE_RELOADS = Counter(
    "sesame_eap_certificate_reloads",
    "Changes of the EAP certificate, key or device CA files: taken into use (reloaded) or refused "
    "(failed: the ones in use are kept)",
    ["outcome"],
)
