"""A judicial requisition's answer as files a court can check: a CSV of the connection records,
a JSON description of the search, each with a detached CMS signature, in one zip.

No database and no clock here (bytes in, bytes out): :mod:`accounts.requisition` finds the records
and calls :func:`bundle`.

* **The CSV** (``records.csv``) is RFC 4180: UTF-8 without a byte-order mark, a header line, the
  columns of :data:`COLUMNS` in that order, CRLF line ends, fields quoted when they hold a comma, a
  quote or a line break. Timestamps are ISO 8601 in UTC (``2026-11-22T09:00:00Z``). Values from
  the wire (user names, Calling-Station-Id, NAS port ids …) are hostile: a cell starting with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run as a formula by a spreadsheet
  (CSV injection), so such a cell gets a leading ``'`` (OWASP's advice), which spreadsheets show
  as text and a reader can remove.
* **The description** (``requisition.json``): who searched and when, the criteria, who exported
  and when, since when records are kept, the number of records, the columns and the CSV's SHA-256.
  It is a companion file rather than a comment at the top of the CSV, which RFC 4180 has no place
  for and which spreadsheets would read as a record.
* **The signatures** (``records.csv.p7s``, ``requisition.json.p7s``): CMS SignedData (RFC 5652)
  in DER, detached, over the exact bytes (``Binary``: no MIME canonicalisation of line ends), by
  the records-signing certificate the operator configures, with its chain. Anyone checks one with
  ``openssl cms -verify -binary -inform DER -in records.csv.p7s -content records.csv -CAfile
  ca.pem``; one byte changed and it fails.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

CSV_NAME, JSON_NAME, SIGNATURE_SUFFIX = "records.csv", "requisition.json", ".p7s"
#: what a spreadsheet takes for the start of a formula (OWASP "CSV Injection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One line of the answer: a connection (``radacct``) or an authentication decision
    (``radpostauth``). The field order is the CSV's column order: change it and the documentation's
    (docs/privacy.md) with it."""

    record: str  # "session" or "decision"
    start: datetime  # a session's start, a decision's time
    end: datetime | None = None  # a session's stop; empty while it is open
    last_update: datetime | None = None
    username: str | None = None
    realm: str | None = None
    calling_station_id: str | None = None
    device_mac: str | None = None  # canonical: stored, else read from Calling-Station-Id or User-Name
    framed_ip: str | None = None
    framed_ipv6: str | None = None
    framed_ipv6_prefix: str | None = None
    delegated_ipv6_prefix: str | None = None
    nas_ip: str | None = None
    nas_port_id: str | None = None
    called_station_id: str | None = None
    access_point: str | None = None
    site: str | None = None
    commune: str | None = None
    session_id: str | None = None
    unique_id: str | None = None
    session_time: int | None = None
    input_octets: int | None = None
    output_octets: int | None = None
    terminate_cause: str | None = None
    reply: str | None = None  # a decision's Access-Accept / Access-Reject
    method: str | None = None
    reason: str | None = None


#: the CSV's columns, in order
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Record))


@dataclass(frozen=True, slots=True)
class RecordsSigner:
    """What signs the answers: the records-signing certificate, its key, the intermediates sent
    with it (``SESAME_REQUISITION_SIGNING_*``)."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()


def instant(value: datetime) -> str:
    """``2026-11-22T09:00:00Z``: the instant in UTC, to the second or finer as stored."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cell(value: object) -> str:
    """A value as its CSV cell: empty for none, ISO 8601 UTC for an instant, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, bool | int):
        return str(int(value))
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(records: Iterable[Record]) -> bytes:
    """The records as RFC 4180 CSV, UTF-8."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, dialect="excel", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    for record in records:
        writer.writerow([cell(getattr(record, name)) for name in COLUMNS])
    return out.getvalue().encode("utf-8")


def sign(data: bytes, signer: RecordsSigner) -> bytes:
    """A detached CMS signature (DER) of ``data`` as it is, with SHA-256."""
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(data)
        .add_signer(signer.certificate, signer.key, hashes.SHA256())
    )
    for certificate in signer.chain:
        builder = builder.add_certificate(certificate)
    return builder.sign(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary]
    )


@dataclass(frozen=True, slots=True)
class Bundle:
    """The signed answer: a zip's bytes, and the CSV's SHA-256 (which the audit log keeps)."""

    zip_bytes: bytes
    csv_sha256: str
    count: int


def bundle(records: list[Record], *, description: Mapping[str, Any], signer: RecordsSigner) -> Bundle:
    """The zip of the CSV, the description (``description`` plus the count, the columns and the
    CSV's SHA-256) and the signature of each."""
    data = to_csv(records)
    digest = hashlib.sha256(data).hexdigest()
    about = dict(description) | {
        "records": len(records),
        "columns": list(COLUMNS),
        "records_csv_sha256": digest,
    }
    text = (json.dumps(about, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in ((CSV_NAME, data), (JSON_NAME, text)):
            archive.writestr(name, content)
            archive.writestr(name + SIGNATURE_SUFFIX, sign(content, signer))
    return Bundle(out.getvalue(), digest, len(records))
