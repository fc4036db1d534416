"""TLS for RadSec (RFC 6614): contexts for both ends and who the peer's certificate names.

RFC 6614 §2.3 identifies a peer by its certificate, not by its address: both ends present one
(mutual authentication, §2.2) and each checks the other's against the CA it trusts for RadSec. A
peer's names are the DNS names of its SubjectAltName; only a certificate without any falls back to
the subject's Common Name (the order of RFC 6125 §6.4.4). TLS 1.2 is the minimum (RFC 6614 asked
for 1.1, which OpenSSL and every current RadSec implementation have dropped); 1.3 is allowed.

Host name checking is off in the client context on purpose: a home server is often reached by an
IP address while its certificate names it by DNS, so :mod:`federation.radsec` checks the names
itself with :func:`name_matches` once the handshake is over. A context from :func:`client_context`
used anywhere else must do the same.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class TlsError(Exception):
    """A certificate, key or CA file cannot be used; the message names the file and why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsFiles:
    """PEM files: our certificate (a chain may follow it), its private key, the CA we trust for peers."""

    certificate: Path
    private_key: Path
    ca: Path


def _context(files: TlsFiles, protocol: int) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    # TLS 1.2 renegotiation serves no purpose on a RadSec connection and costs the server a handshake
    # whenever a peer asks for one.
    context.options |= ssl.OP_NO_RENEGOTIATION
    try:
        context.load_cert_chain(files.certificate, files.private_key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(
            f"radsec: cannot use certificate {files.certificate} with key {files.private_key}: {_why(exc)}"
        ) from None
    try:
        context.load_verify_locations(cafile=files.ca)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"radsec: cannot use CA file {files.ca}: {_why(exc)}") from None
    return context


def _why(exc: OSError | ssl.SSLError) -> str:
    return str(getattr(exc, "reason", None) or exc.strerror or exc)


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """Accepts TLS >= 1.2 and requires a client certificate issued under ``files.ca``."""
    return _context(files, ssl.PROTOCOL_TLS_SERVER)


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """Verifies the server's certificate against ``files.ca`` (TLS >= 1.2); the caller checks names."""
    context = _context(files, ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # see the module docstring: radsec checks the names itself
    return context


def peer_names(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> tuple[str, ...]:
    """The verified peer certificate's SubjectAltName DNS names, else its subject CN; lowercase.

    Empty when the peer sent no certificate (never the case with :data:`ssl.CERT_REQUIRED`).
    """
    certificate: dict[str, Any] | None = ssl_object.getpeercert()
    if not certificate:
        return ()
    names: list[str] = []
    for kind, value in certificate.get("subjectAltName", ()):
        if kind == "DNS" and value.lower() not in names:
            names.append(value.lower())
    if names:
        return tuple(names)
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            if key == "commonName" and value.lower() not in names:
                names.append(value.lower())
    return tuple(names)


def name_matches(expected: str, names: Iterable[str]) -> bool:
    """Whether a certificate name is ``expected``: exact, case-insensitive, trailing dot ignored.

    A name ``*.example.org`` stands for exactly one label: it matches ``radsec.example.org`` but
    neither ``example.org`` nor ``a.b.example.org`` (RFC 6125 §6.4.3, its strictest reading; no
    partial-label wildcards such as ``rad*.example.org``).
    """
    wanted = expected.lower().rstrip(".")
    if not wanted:
        return False
    first, dot, rest = wanted.partition(".")
    for name in names:
        name = name.lower().rstrip(".")
        if name == wanted:
            return True
        if name.startswith("*.") and dot and first and first != "*" and name[2:] == rest:
            return True
    return False


def sni_name(expected: str) -> str | None:
    """The server name to send (SNI) when connecting to a peer whose certificate must name
    ``expected``: that name when it is a DNS name, else None (RFC 6066 §3 allows no IP literal)."""
    try:
        ipaddress.ip_address(expected)
    except ValueError:
        return expected if expected and "*" not in expected else None
    return None


def failure(exc: BaseException) -> str:
    """Why a TLS connection or handshake failed, in words for a log line or an operator."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate refused: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        if exc.errno and exc.errno > 0:  # asyncio words a refused connection "Connect call failed (…)"
            return os.strerror(exc.errno)
        if exc.strerror:  # getaddrinfo's errors are negative
            return exc.strerror
    return str(exc) or type(exc).__name__
