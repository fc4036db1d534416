"""The Change-of-Authorization and Disconnect client (RFC 5176): Sésame asks an access point (the
NAS) to end a session or to change it, and reads its answer.

Theory of operation. The protocol part is two pure functions:

* :func:`build_request` frames a Disconnect-Request (40) or CoA-Request (43): Message-Authenticator
  first (BlastRADIUS hardening), computed with the authenticator field zeroed (RFC 5176 §3.3),
  then the attributes that name the session, then the changes; the Request Authenticator is
  MD5(Code + Identifier + Length + 16 zero octets + Attributes + Secret) as for accounting
  (RFC 5176 §2.3, RFC 2866 §3), over the packet that already holds the final Message-Authenticator.
* :func:`read_response` judges a datagram against the request: it becomes a :class:`CoaResult`
  (ACK, or NAK with its Error-Cause, RFC 5176 §3.5) only when its identifier, its code (the ACK or
  NAK of the request's kind), its Response Authenticator and, when present, its
  Message-Authenticator are right; anything else is :class:`ResponseIgnored` with a reason,
  counted and never trusted.

:class:`CoaClient` is the thin asyncio part and implements :class:`accounts.disconnect.CoaSender`.
Each request gets its own connected UDP socket (IPv4 or IPv6 by the target's address), so the
kernel delivers only datagrams from the target's address and port and identifiers of concurrent
requests never collide; the identifier is random. The same bytes are sent again after ``timeout``
seconds, ``retries`` times at most (RFC 5176 §2.3 leaves retransmission to RFC 2865 practice),
and then the result is a TIMEOUT. The secret is never logged.

The socket is bound to ``sources``' address of the target's family when one is given: the address
RADIUS listens on, the one the access point knows this server by. An access point takes CoA only
from its configured RADIUS servers (CoovaChilli checks the source unless told ``coanoipcheck``), so
with several hosts a request goes out from the host asked, under its own RADIUS address, never
from whatever address the kernel would pick on a host with several.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import secrets
import socket
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accounts.disconnect import CoaKind, CoaOutcome, CoaResult, CoaTarget
from radius import codec, metrics
from radius.codec import ERROR_CAUSE, Code, Malformed

if TYPE_CHECKING:
    from accounts.disconnect import CoaSender

log = logging.getLogger("sesame.radius.coa")


#: kind -> (request code, ACK code, NAK code), RFC 5176 §2.1 and §2.2
CODES: dict[CoaKind, tuple[Code, Code, Code]] = {
    "disconnect": (Code.DISCONNECT_REQUEST, Code.DISCONNECT_ACK, Code.DISCONNECT_NAK),
    "coa": (Code.COA_REQUEST, Code.COA_ACK, Code.COA_NAK),
}


class IgnoreReason(enum.StrEnum):
    MALFORMED = "malformed"
    WRONG_IDENTIFIER = "wrong_identifier"
    WRONG_CODE = "wrong_code"
    BAD_AUTHENTICATOR = "bad_authenticator"  # most often: the NAS has another secret
    BAD_MESSAGE_AUTHENTICATOR = "bad_message_authenticator"
    WRONG_SOURCE = "wrong_source"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseIgnored:
    """Fired when a datagram arrives that cannot be the answer to the request."""

    reason: IgnoreReason


def build_request(
    codec_: codec.Codec,
    *,
    kind: CoaKind,
    identifier: int,
    secret: bytes,
    attributes: Sequence[tuple[str, str | int]],
) -> bytes:
    """A signed Disconnect- or CoA-Request; its Request Authenticator is ``data[4:20]``.

    ``attributes`` are (dictionary name, value) pairs in wire order. Encrypted attributes
    (User-Password, Tunnel-Password, MS-MPPE keys) are refused: their hiding would need the
    Request Authenticator, which here is computed over them.
    """
    for name, _ in attributes:
        if codec_.spec(name.partition(":")[0]).encrypted:
            raise ValueError(f"{name} is encrypted and cannot be sent in a {kind} request")
    # encode_secret rather than the cached encode: these attributes name one session, caching
    # them would only push the policy replies out of the cache.
    encoded = codec_.encode_secret(attributes, secret=secret, request_authenticator=bytes(16))
    data = codec.encode_request(code=CODES[kind][0], identifier=identifier, secret=secret, attributes=encoded)
    if len(data) > codec.MAX_LENGTH:
        raise ValueError(f"{kind} request of {len(data)} octets exceeds the RADIUS maximum")
    return data


def read_response(
    codec_: codec.Codec,
    data: bytes,
    *,
    kind: CoaKind,
    identifier: int,
    request_authenticator: bytes,
    secret: bytes,
) -> CoaResult | ResponseIgnored:
    """The NAS's answer to a request, or why this datagram is not it."""
    try:
        packet = codec.parse(data)
    except Malformed:
        return ResponseIgnored(reason=IgnoreReason.MALFORMED)
    if packet.identifier != identifier:
        return ResponseIgnored(reason=IgnoreReason.WRONG_IDENTIFIER)
    _, ack, nak = CODES[kind]
    if packet.code not in (ack, nak):
        return ResponseIgnored(reason=IgnoreReason.WRONG_CODE)
    if not codec.response_authenticator_valid(packet, secret, request_authenticator=request_authenticator):
        return ResponseIgnored(reason=IgnoreReason.BAD_AUTHENTICATOR)
    if packet.first(codec.MESSAGE_AUTHENTICATOR) is not None and not codec.message_authenticator_valid(
        packet, secret, request_authenticator=request_authenticator
    ):
        return ResponseIgnored(reason=IgnoreReason.BAD_MESSAGE_AUTHENTICATOR)

    outcome = CoaOutcome.ACK if packet.code == ack else CoaOutcome.NAK
    raw_cause = packet.first(ERROR_CAUSE)
    cause = int.from_bytes(raw_cause, "big") if raw_cause is not None and len(raw_cause) == 4 else None
    detail = outcome.name
    if cause is not None:
        name = codec_.value_names("Error-Cause").get(cause)
        detail += f": {name} ({cause})" if name else f": Error-Cause {cause}"
    return CoaResult(outcome=outcome, error_cause=cause, detail=detail)


# -- asyncio ---------------------------------------------------------------------------------------


def _where(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


class _Exchange(asyncio.DatagramProtocol):
    """One request's socket: hands datagrams to :func:`read_response` until one is the answer."""

    def __init__(
        self,
        codec_: codec.Codec,
        target: CoaTarget,
        *,
        kind: CoaKind,
        request: bytes,
        answer: asyncio.Future[CoaResult],
    ) -> None:
        self.codec = codec_
        self.target = target
        self.source = ipaddress.ip_address(target.address)
        self.kind = kind
        self.identifier = request[1]
        self.request_authenticator = request[4:20]
        self.answer = answer
        self.ignored: Counter[IgnoreReason] = Counter()
        self.last_error: str | None = None

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if self.answer.done():
            return  # a late duplicate answer to a retransmission
        # The socket is connected, so the kernel already filters; checked anyway, never trusted.
        if ipaddress.ip_address(addr[0]) != self.source or addr[1] != self.target.port:
            result: CoaResult | ResponseIgnored = ResponseIgnored(reason=IgnoreReason.WRONG_SOURCE)
        else:
            result = read_response(
                self.codec,
                data,
                kind=self.kind,
                identifier=self.identifier,
                request_authenticator=self.request_authenticator,
                secret=self.target.secret,
            )
        if isinstance(result, CoaResult):
            self.answer.set_result(result)
            return
        metrics.coa_ignored(result.reason.value)
        if not self.ignored:  # once per request; the counters say how many
            log.warning(
                "coa: ignored a datagram while waiting for an answer: %s",
                result.reason.value,
                extra={"nas_address": self.target.address},
            )
        self.ignored[result.reason] += 1

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable: the NAS may come back
        self.last_error = getattr(exc, "strerror", None) or str(exc)


class CoaClient:
    """Sends Disconnect- and CoA-Requests and waits for the answer (an ``accounts.disconnect.CoaSender``)."""

    def __init__(
        self, codec_: codec.Codec, *, timeout: float = 2.0, retries: int = 2, sources: Sequence[str] = ()
    ) -> None:
        """``sources``: the addresses requests may leave from (the first of each family is used;
        a wildcard address, none of the family, or a loopback one for an access point elsewhere
        leaves the choice to the kernel)."""
        if timeout <= 0 or retries < 0:
            raise ValueError("the CoA timeout must be positive and the retries not negative")
        self.codec = codec_
        self.timeout = timeout
        self.retries = retries
        self.sources: dict[int, str] = {}
        for source in sources:
            address = ipaddress.ip_address(source)
            if not address.is_unspecified:
                self.sources.setdefault(address.version, str(address))

    async def __call__(
        self, target: CoaTarget, *, kind: CoaKind, extra: Sequence[tuple[str, str | int]] = ()
    ) -> CoaResult:
        data = build_request(
            self.codec,
            kind=kind,
            identifier=secrets.randbelow(256),
            secret=target.secret,
            attributes=(*target.attributes, *extra),
        )
        result = await self._exchange(target, kind, data)
        metrics.coa_request(kind, result.outcome.value)
        log.info(
            "coa: %s request to %s: %s",
            kind,
            _where(target.address, target.port),
            result.detail,
            extra={"nas_address": target.address},
        )
        return result

    async def _exchange(self, target: CoaTarget, kind: CoaKind, data: bytes) -> CoaResult:
        loop = asyncio.get_running_loop()
        where = _where(target.address, target.port)
        destination = ipaddress.ip_address(target.address)
        family = socket.AF_INET6 if destination.version == 6 else socket.AF_INET
        source = self.sources.get(destination.version)
        if source is not None and ipaddress.ip_address(source).is_loopback and not destination.is_loopback:
            source = None  # RADIUS on the loopback only (a trial set-up): nothing leaves from there
        answer: asyncio.Future[CoaResult] = loop.create_future()
        exchange = _Exchange(self.codec, target, kind=kind, request=data, answer=answer)
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: exchange,
                local_addr=(source, 0) if source is not None else None,
                remote_addr=(target.address, target.port),
                family=family,
            )
        except OSError as exc:  # no route to the NAS: nothing was sent, nothing will answer
            return CoaResult(outcome=CoaOutcome.TIMEOUT, detail=f"cannot send to {where}: {exc.strerror}")
        tries = self.retries + 1
        try:
            for _ in range(tries):
                transport.sendto(data)  # a retransmission: same identifier, same bytes
                done, _ = await asyncio.wait({answer}, timeout=self.timeout)
                if done:
                    return answer.result()
        finally:
            transport.close()
        detail = f"no answer from {where} after {tries} {'try' if tries == 1 else 'tries'}"
        if exchange.ignored:
            reasons = ", ".join(f"{count} {reason.value}" for reason, count in exchange.ignored.items())
            detail += f"; ignored {reasons}"
        if exchange.last_error:
            detail += f"; last error: {exchange.last_error}"
        return CoaResult(outcome=CoaOutcome.TIMEOUT, detail=detail)


if TYPE_CHECKING:

    def _implements_the_protocol(client: CoaClient) -> CoaSender:
        return client  # mypy checks CoaClient against accounts.disconnect.CoaSender
