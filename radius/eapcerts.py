"""The EAP server's certificates in operation: checked before start-up, watched while running,
described for the devices that must trust them.

Theory of operation.

* Start-up (:func:`check_at_start`, run by ``sesame serve`` before it binds anything): every file
  is read (one that cannot be: :class:`CertificateUnreadable`), the TLS contexts are built once (a
  certificate or key OpenSSL refuses, a key that is not the certificate's:
  :class:`~radius.eap.tlsengine.TlsConfigError`), and the server's chain must lead to one of the
  CAs that devices are told to trust (``SESAME_EAP_CA``: one CA, or during a change of CA a PEM
  bundle of the old and the new one), as a device would check it. A certificate — the server's,
  the device CA, each published CA — that expires within :data:`EXPIRY_WARNING` is a warning; one
  already expired is an error line, and the server starts anyway: RADIUS serves much more than EAP
  (passwords, MAC, portal tokens, accounting, partners), and refusing to start would stop all of
  it for every hotspot of the region after an unattended reboot, where an expired certificate
  stops only EAP. FreeRADIUS starts too. The expiry time is a metric, for alert rules.
* Running (:class:`CertificateWatch`, whose :meth:`~CertificateWatch.check` the RADIUS service
  calls every few seconds, off the request path): the files are read and hashed (a few kilobytes)
  and compared with the last look; a change is acted on once the files have stayed the same for
  one interval (a renewal, or the switch to the new CA's certificate, writes the certificate and
  the key one after the other: in between they do not match). Contents the same as those in use
  change nothing (``touch``); else new contexts are built and handed to
  :meth:`radius.eap.server.EapServer.replace_tls`. Conversations under way finish on the contexts
  they began with. Files that cannot be used — unreadable, a key that does not match, a
  certificate already expired or not issued by the published CAs — leave the contexts in use as
  they are: one error line for each such state of the files, counted in
  ``sesame_eap_certificate_reloads_total{outcome="failed"}``.

Every worker process watches for itself (each holds its own contexts), so a renewal logs one line
per worker. The CAs published to devices (:func:`published_cas`) are read at start-up only:
changing the CAs devices trust means changing their profiles, not a file on the server
(docs/onboarding.md, "Certificates: what to buy, what to make, how to rotate").
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from OpenSSL import crypto

from radius import metrics
from radius.eap.server import EapServer
from radius.eap.tlsengine import TlsConfigError, TlsSettings, make_context

__all__ = [
    "EXPIRY_WARNING",
    "CertificateUnreadable",
    "CertificateWatch",
    "ServerCertificate",
    "ca_label",
    "check_at_start",
    "published_cas",
    "read_server_certificate",
]

log = logging.getLogger("sesame.radius.eap")

#: a server certificate (or device CA) that expires sooner than this is a warning at start-up
EXPIRY_WARNING = timedelta(days=30)
SERVER, DEVICE_CA = "the server certificate", "the device CA"
#: X509_V_FLAG_NO_CHECK_TIME (OpenSSL 1.1.0): dates are reported apart from the chain; pyOpenSSL
#: does not name the flag
_NO_CHECK_TIME = 0x200000


class CertificateUnreadable(Exception):
    """A certificate, key or CA file cannot be read; the message names it and says why."""


def _now() -> datetime:
    return datetime.now(UTC)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise CertificateUnreadable(f"eap: cannot read {what} {path}: {why}") from None


def _certificates(data: bytes, path: Path, what: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TlsConfigError(f"eap: {what} {path} holds no PEM certificate") from None


@dataclass(frozen=True, slots=True)
class ServerCertificate:
    """The server's certificate (the first of its file) and the intermediates after it."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def not_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    @property
    def names(self) -> tuple[str, ...]:
        """The names a device must check: the DNS names of subjectAltName, else the common name."""
        try:
            san = self.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            dns = tuple(san.value.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            dns = ()
        if dns:
            return dns
        common = self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return tuple(str(attribute.value) for attribute in common)

    def signed_by(self, cas: tuple[x509.Certificate, ...]) -> x509.Certificate | None:
        """The first of ``cas`` a device would accept this chain with (dates apart), or None."""
        return next((ca for ca in cas if self.problem_with(ca) is None), None)

    def problem_with(self, ca: x509.Certificate) -> str | None:
        """Why a device trusting ``ca`` would refuse this chain (dates apart), or None. The CA may
        be an intermediate (devices then pin it as their anchor)."""
        store = crypto.X509Store()
        store.add_cert(crypto.X509.from_cryptography(ca))
        store.set_flags(crypto.X509StoreFlags.PARTIAL_CHAIN | _NO_CHECK_TIME)
        context = crypto.X509StoreContext(
            store,
            crypto.X509.from_cryptography(self.certificate),
            [crypto.X509.from_cryptography(c) for c in self.chain],
        )
        try:
            context.verify_certificate()
        except crypto.X509StoreContextError as exc:
            return str(exc)
        return None


def read_server_certificate(path: Path) -> ServerCertificate:
    found = _certificates(_read(path, "server certificate"), path, "server certificate")
    return ServerCertificate(found[0], tuple(found[1:]))


#: more CAs than this in ``SESAME_EAP_CA`` is a mistake (a system bundle named by error), not a
#: rotation: every profile would pin them all
MAX_PUBLISHED = 4


def published_cas(path: Path) -> tuple[x509.Certificate, ...]:
    """The CAs devices must trust (``SESAME_EAP_CA``): PEM, one certificate — or, while the
    server's CA changes, the old and the new one, each pinned by devices' profiles. Each must be
    a CA (basicConstraints cA), each once."""
    found = _certificates(_read(path, "CA file"), path, "CA file")
    if len(found) > MAX_PUBLISHED:
        raise TlsConfigError(
            f"eap: {path} holds {len(found)} certificates; the CAs devices trust are one, or two "
            f"while the server's CA changes (at most {MAX_PUBLISHED})"
        )
    seen: set[bytes] = set()
    for certificate in found:
        fingerprint = certificate.fingerprint(hashes.SHA256())
        if fingerprint in seen:
            raise TlsConfigError(f"eap: {path} holds the same CA twice ({ca_label(certificate)})")
        seen.add(fingerprint)
        try:
            is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise TlsConfigError(
                f"eap: {path} holds {certificate.subject.rfc4514_string()}, which is no CA "
                "(no basicConstraints cA): devices pin the CA, not the server's certificate"
            )
    return tuple(found)


def ca_label(ca: x509.Certificate) -> str:
    """How a published CA is named in logs and in the expiry metric: ``ca:`` and the first 16
    hex digits of its SHA-256 fingerprint (what ``/eap/server.json`` lists in full)."""
    return "ca:" + ca.fingerprint(hashes.SHA256()).hex()[:16]


def _published_expiries(path: Path, cas: tuple[x509.Certificate, ...], now: datetime) -> None:
    for ca in cas:
        not_after = ca.not_valid_after_utc
        day = f"{not_after:%Y-%m-%d %H:%M} UTC"
        if not_after <= now:
            log.error(
                "eap: the published CA %s (%s) in %s expired on %s: devices that pin only it refuse "
                "the server; remove it from the bundle once the server's certificate comes from another",
                ca.subject.rfc4514_string(),
                ca_label(ca),
                path,
                day,
            )
        elif not_after - now < EXPIRY_WARNING:
            log.warning(
                "eap: the published CA %s (%s) in %s expires on %s, in %d days: devices' profiles "
                "must already pin its successor (docs/onboarding.md, how to rotate)",
                ca.subject.rfc4514_string(),
                ca_label(ca),
                path,
                day,
                (not_after - now).days,
            )


def _ca_gauge(cas: tuple[x509.Certificate, ...]) -> None:
    for ca in cas:
        metrics.EAP_CERTIFICATE_EXPIRY.labels(ca_label(ca)).set(ca.not_valid_after_utc.timestamp())


def _expiry(what: str, path: Path, not_after: datetime, now: datetime) -> None:
    """Warn of a certificate that expires soon; say it louder when it has."""
    day = f"{not_after:%Y-%m-%d %H:%M} UTC"
    if not_after <= now:
        refused = "devices refuse the handshake" if what == SERVER else "EAP-TLS refuses every device"
        log.error(
            "eap: %s %s expired on %s: %s; renew it (the new file is loaded without a restart)",
            what,
            path,
            day,
            refused,
        )
    elif not_after - now < EXPIRY_WARNING:
        log.warning(
            "eap: %s %s expires on %s, in %d days: renew it (the new file is loaded without a restart)",
            what,
            path,
            day,
            (not_after - now).days,
        )


def _expiries(
    tls: TlsSettings, server: ServerCertificate, device_ca: list[x509.Certificate], now: datetime
) -> None:
    _expiry(SERVER, tls.certificate, server.not_after, now)
    for certificate in device_ca:
        _expiry(DEVICE_CA, tls.device_ca or Path(), certificate.not_valid_after_utc, now)


def _gauge(server: ServerCertificate, device_ca: list[x509.Certificate]) -> None:
    metrics.EAP_CERTIFICATE_EXPIRY.labels("server").set(server.not_after.timestamp())
    if device_ca:
        soonest = min(c.not_valid_after_utc for c in device_ca)
        metrics.EAP_CERTIFICATE_EXPIRY.labels("device_ca").set(soonest.timestamp())


def check_at_start(
    tls: TlsSettings, *, ca: Path | None = None, now: datetime | None = None
) -> ServerCertificate:
    """Everything EAP's TLS needs works (see the module's theory): :class:`CertificateUnreadable`
    or :class:`~radius.eap.tlsengine.TlsConfigError` if not; logs what expires soon."""
    now = now or _now()
    _read(tls.private_key, "private key")
    server = read_server_certificate(tls.certificate)
    device_ca: list[x509.Certificate] = []
    if tls.device_ca is not None:
        device_ca = _certificates(_read(tls.device_ca, "device CA"), tls.device_ca, "device CA")
    trusted = published_cas(ca) if ca is not None else ()
    make_context(tls)
    if tls.device_ca is not None:
        make_context(tls, client_ca=tls.device_ca)
    if ca is not None and server.signed_by(trusted) is None:
        raise TlsConfigError(
            f"eap: the server certificate {tls.certificate} does not chain to the CA devices "
            f"trust ({ca}): {server.problem_with(trusted[0])}"
        )
    _expiries(tls, server, device_ca, now)
    if ca is not None:
        _published_expiries(ca, trusted, now)
    return server


class CertificateWatch:
    """Reloads an :class:`EapServer`'s TLS contexts when the files they came from change (see the
    module's theory). ``trusted_cas``: the CAs published to devices, one of which a new server
    certificate must chain to (none: not checked); ``clock``: now, as an aware datetime."""

    def __init__(
        self,
        server: EapServer,
        *,
        trusted_cas: tuple[x509.Certificate, ...] = (),
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.server = server
        self.trusted_cas = trusted_cas
        _ca_gauge(trusted_cas)
        self._clock = clock
        self._seen, contents = self._look()
        self._loaded = self._seen  # what the server's contexts were built from (a race aside)
        self._settled = True
        if isinstance(contents, dict):
            with contextlib.suppress(TlsConfigError):
                _gauge(self._server_certificate(contents), self._device_ca(contents))

    @property
    def _paths(self) -> dict[str, Path]:
        tls = self.server.tls
        paths = {"server certificate": tls.certificate, "private key": tls.private_key}
        if tls.device_ca is not None:
            paths["device CA"] = tls.device_ca
        return paths

    def _look(self) -> tuple[bytes, dict[str, bytes] | CertificateUnreadable]:
        """The files' contents (a few kilobytes, read every time: a file's status can miss a
        rewrite of the same size within the file system's clock tick) and their digest, or why
        one cannot be read."""
        contents: dict[str, bytes] = {}
        hashed = hashlib.sha256()
        problem: CertificateUnreadable | None = None
        for what, path in self._paths.items():
            try:
                data = contents[what] = _read(path, what)
            except CertificateUnreadable as exc:
                problem = problem or exc
                hashed.update(b"\xff" + str(exc).encode())
                continue
            hashed.update(len(data).to_bytes(8, "big") + data)
        return hashed.digest(), problem or contents

    def _server_certificate(self, contents: dict[str, bytes]) -> ServerCertificate:
        path = self.server.tls.certificate
        found = _certificates(contents["server certificate"], path, "server certificate")
        return ServerCertificate(found[0], tuple(found[1:]))

    def _device_ca(self, contents: dict[str, bytes]) -> list[x509.Certificate]:
        if "device CA" not in contents:
            return []
        return _certificates(contents["device CA"], self.server.tls.device_ca or Path(), "device CA")

    def check(self) -> bool:
        """Look at the files; True when new contexts were taken into use."""
        seen, contents = self._look()
        if seen != self._seen:
            self._seen, self._settled = seen, False
            return False  # still changing, perhaps: act when they have stayed so for one interval
        if self._settled or seen == self._loaded:
            self._settled = True
            return False
        self._settled = True
        try:
            if isinstance(contents, CertificateUnreadable):
                raise contents
            server = self._server_certificate(contents)
            device_ca = self._device_ca(contents)
            self._refuse_what_devices_would(server)
            self.server.replace_tls(self.server.tls)
        except (CertificateUnreadable, TlsConfigError) as exc:
            metrics.EAP_CERTIFICATE_RELOADS.labels("failed").inc()
            log.error("%s; the certificates in use are kept", exc)
            return False
        self._loaded = seen
        metrics.EAP_CERTIFICATE_RELOADS.labels("reloaded").inc()
        _gauge(server, device_ca)
        tls = self.server.tls
        issuer = server.signed_by(self.trusted_cas) if self.trusted_cas else None
        log.info(
            "eap: certificates reloaded from %s (server name %s, until %s UTC%s): new conversations use them",
            tls.certificate,
            ", ".join(server.names) or "-",
            f"{server.not_after:%Y-%m-%d}",
            f", chaining to the published CA {ca_label(issuer)}" if issuer is not None else "",
        )
        _expiries(tls, server, device_ca, self._clock())
        return True

    def _refuse_what_devices_would(self, server: ServerCertificate) -> None:
        path = self.server.tls.certificate
        if server.not_after <= self._clock():
            raise TlsConfigError(
                f"eap: the new server certificate {path} expired on {server.not_after:%Y-%m-%d %H:%M} UTC"
            )
        if self.trusted_cas and server.signed_by(self.trusted_cas) is None:
            raise TlsConfigError(
                f"eap: the new server certificate {path} does not chain to the CA devices trust: "
                f"{server.problem_with(self.trusted_cas[0])}"
            )
