"""Accounting (RFC 2866): an Accounting-Request becomes a :class:`~accounts.sessions.Usage` record.

The handler answers only once the record is committed (:meth:`UsageStore.record_usage`, group
committed by the store): nothing acknowledged is ever lost. A request the store could not commit
is left unanswered and the NAS retransmits it; applying a record twice changes nothing.

The session's identity (``acctuniqueid``) is derived, like FreeRADIUS's ``Acct-Unique-Session-Id``,
from what names a session at a NAS: the client entry, NAS-IP-Address / NAS-Identifier, User-Name,
Acct-Session-Id and the port. The account comes from the signed Class the Access-Accept carried
(:class:`SessionClass`), or else from the User-Name.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import socket
from datetime import datetime, timedelta
from typing import Protocol

from accounts.identity import canonical_mac
from accounts.sessions import StatusType, Usage
from radius import codec, metrics
from radius.codec import (
    ACCT_AUTHENTIC,
    ACCT_DELAY_TIME,
    ACCT_INPUT_GIGAWORDS,
    ACCT_INPUT_OCTETS,
    ACCT_INTERIM_INTERVAL,
    ACCT_OUTPUT_GIGAWORDS,
    ACCT_OUTPUT_OCTETS,
    ACCT_SESSION_ID,
    ACCT_SESSION_TIME,
    ACCT_TERMINATE_CAUSE,
    CONNECT_INFO,
    DELEGATED_IPV6_PREFIX,
    FRAMED_INTERFACE_ID,
    FRAMED_IP_ADDRESS,
    FRAMED_IPV6_ADDRESS,
    FRAMED_IPV6_PREFIX,
    FRAMED_PROTOCOL,
    NAS_PORT,
    NAS_PORT_ID,
    NAS_PORT_TYPE,
    SERVICE_TYPE,
    Code,
)
from radius.core import Decision
from radius.events import Discard, DropReason, RadiusRequest
from radius.store import AccountView

#: counters are BIGINT columns: a NAS claiming more than 2^63 bytes is not believed further
MAX_COUNTER = 2**63 - 1
#: a NAS claiming a record is older than this is not believed further
MAX_DELAY = timedelta(days=7)

ACCOUNTING_RESPONSE = Decision(code=Code.ACCOUNTING_RESPONSE)


class SessionClass:
    """The Class attribute (RFC 2865 §5.25) of an Access-Accept: the account, signed.

    ``sesame:<account id>.<nonce>.<tag>``: the NAS repeats it in accounting, so the session is
    tied to the account that authenticated without a database lookup, and nobody without the
    key can make one up. Unique per Access-Accept (the nonce). Made with the first key; during a
    key rotation the previous keys still verify the Class of sessions that started before it.
    """

    PREFIX = b"sesame:"

    def __init__(self, key: bytes, *previous: bytes) -> None:
        self._keys = (key, *previous)

    @staticmethod
    def _tag(key: bytes, body: bytes) -> bytes:
        return hmac.new(key, body, hashlib.sha256).hexdigest()[:16].encode()

    def make(self, account_id: int) -> bytes:
        body = self.PREFIX + f"{account_id}.{os.urandom(6).hex()}".encode()
        return body + b"." + self._tag(self._keys[0], body)

    def account_id(self, value: bytes | None) -> int | None:
        if value is None or not value.startswith(self.PREFIX):
            return None
        body, _, tag = value.rpartition(b".")
        if not any(hmac.compare_digest(tag, self._tag(key, body)) for key in self._keys):
            return None
        number = body[len(self.PREFIX) :].partition(b".")[0]
        return int(number) if number.isdigit() and len(number) < 19 else None


class UsageStore(Protocol):
    async def record_usage(self, usage: Usage) -> None:
        """Return once the record is committed; raise if it could not be."""
        ...

    async def account(self, username: str) -> AccountView | None: ...


Attributes = dict[int, bytes]  # the first value of each attribute of a packet


def _integer(attrs: Attributes, code: int) -> int | None:
    value = attrs.get(code)
    return int.from_bytes(value, "big") if value is not None and len(value) == 4 else None


def _text(attrs: Attributes, code: int, limit: int = 64) -> str | None:
    return codec.as_text(attrs.get(code), limit)


def _ipv4(attrs: Attributes, code: int) -> str | None:
    value = attrs.get(code)
    return socket.inet_ntop(socket.AF_INET, value) if value is not None and len(value) == 4 else None


def _ipv6(attrs: Attributes, code: int) -> str | None:
    value = attrs.get(code)
    return socket.inet_ntop(socket.AF_INET6, value) if value is not None and len(value) == 16 else None


def _ipv6_prefix(attrs: Attributes, code: int) -> str | None:
    value = attrs.get(code)  # RFC 3162 §2.3: reserved, prefix length, prefix (0-16 octets)
    if value is None or len(value) < 2 or value[1] > 128 or len(value) - 2 > 16:
        return None
    address = ipaddress.IPv6Address(value[2:].ljust(16, b"\0"))
    try:
        return str(ipaddress.IPv6Network(f"{address}/{value[1]}", strict=False))
    except ValueError:
        return None


def _interface_id(attrs: Attributes) -> str | None:
    value = attrs.get(FRAMED_INTERFACE_ID)  # RFC 3162 §2.2: eight octets
    return value.hex() if value is not None and len(value) == 8 else None


class Accounting:
    """The accounting port's handler."""

    def __init__(
        self,
        *,
        codec_: codec.Codec,
        realm: str,
        store: UsageStore,
        classes: SessionClass,
    ) -> None:
        self.realm = realm
        self.store = store
        self.classes = classes
        self._names: dict[int, dict[int, str]] = {
            code: codec_.value_names(name)
            for code, name in (
                (SERVICE_TYPE, "Service-Type"),
                (FRAMED_PROTOCOL, "Framed-Protocol"),
                (ACCT_AUTHENTIC, "Acct-Authentic"),
                (ACCT_TERMINATE_CAUSE, "Acct-Terminate-Cause"),
                (NAS_PORT_TYPE, "NAS-Port-Type"),
            )
        }

    def _named(self, attrs: Attributes, code: int) -> str | None:
        number = _integer(attrs, code)
        if number is None:
            return None
        return self._names[code].get(number, str(number))[:32]  # an operator's dictionary may be verbose

    async def __call__(self, request: RadiusRequest, now: datetime) -> Decision:
        usage = await self.usage(request, now)
        if usage is not None:
            try:
                await self.store.record_usage(usage)
            except Exception as exc:
                raise Discard(DropReason.NOT_RECORDED) from exc
        return ACCOUNTING_RESPONSE

    async def usage(self, request: RadiusRequest, now: datetime) -> Usage | None:
        """The record an Accounting-Request carries; None for a kind this server does not keep."""
        packet, client = request.packet, request.client
        attrs: Attributes = {}
        for code, value in packet.attributes:  # one pass; most attributes come once
            attrs.setdefault(code, value)
        status_number = _integer(attrs, codec.ACCT_STATUS_TYPE)
        if status_number is None:
            raise Discard(DropReason.BAD_ACCOUNTING)
        try:
            status = StatusType(status_number)
        except ValueError:
            metrics.accounting(str(status_number))
            return None  # tunnel accounting, Failed…: acknowledged, not kept
        metrics.accounting(status.name.lower())
        delay = timedelta(seconds=_integer(attrs, ACCT_DELAY_TIME) or 0)
        event_time = now - min(delay, MAX_DELAY)
        nas_address = (
            _ipv4(attrs, codec.NAS_IP_ADDRESS) or _ipv6(attrs, codec.NAS_IPV6_ADDRESS) or request.source[0]
        )
        if status in (StatusType.ACCOUNTING_ON, StatusType.ACCOUNTING_OFF):
            return Usage(
                status=status,
                acctuniqueid="",
                acctsessionid="",
                nasipaddress=nas_address,
                event_time=event_time,
                nas_id=client.nas_id,
            )
        session_id = attrs.get(ACCT_SESSION_ID)
        if not session_id:
            raise Discard(DropReason.BAD_ACCOUNTING)
        user_name = _text(attrs, codec.USER_NAME, 253)
        nas_identifier = _text(attrs, codec.NAS_IDENTIFIER, 253) or ""
        port = _integer(attrs, NAS_PORT)
        port_id = _text(attrs, NAS_PORT_ID)
        unique = hashlib.md5(  # noqa: S324 - an identifier, not a security function
            "\0".join(
                (str(client.id), nas_address, nas_identifier, user_name or "", str(port), port_id or "")
            ).encode()
            + b"\0"
            + session_id
        ).hexdigest()

        account_id = self.classes.account_id(attrs.get(codec.CLASS))
        username, realm = None, None
        if user_name is not None:
            mac = canonical_mac(user_name)
            user, at, domain = user_name.strip().rpartition("@")
            username, realm = user_name, (domain.lower() if at else self.realm)
            if account_id is None and mac is None and realm == self.realm:
                account = await self.store.account((user if at else domain).lower())
                account_id = account.id if account is not None else None
        calling = _text(attrs, codec.CALLING_STATION_ID)
        gigawords_in = _integer(attrs, ACCT_INPUT_GIGAWORDS) or 0
        gigawords_out = _integer(attrs, ACCT_OUTPUT_GIGAWORDS) or 0
        return Usage(
            status=status,
            acctuniqueid=unique,
            acctsessionid=codec.as_text(session_id) or "",
            nasipaddress=nas_address,
            event_time=event_time,
            username=username,
            realm=realm,
            nasportid=port_id if port_id is not None else (str(port) if port is not None else None),
            nasporttype=self._named(attrs, NAS_PORT_TYPE),
            acctsessiontime=_integer(attrs, ACCT_SESSION_TIME) or 0,
            acctinputoctets=min(
                (gigawords_in << 32) + (_integer(attrs, ACCT_INPUT_OCTETS) or 0), MAX_COUNTER
            ),
            acctoutputoctets=min(
                (gigawords_out << 32) + (_integer(attrs, ACCT_OUTPUT_OCTETS) or 0), MAX_COUNTER
            ),
            acctinterval=_integer(attrs, ACCT_INTERIM_INTERVAL),
            acctauthentic=self._named(attrs, ACCT_AUTHENTIC),
            connectinfo=_text(attrs, CONNECT_INFO, 128),
            calledstationid=_text(attrs, codec.CALLED_STATION_ID),
            callingstationid=calling,
            acctterminatecause=self._named(attrs, ACCT_TERMINATE_CAUSE),
            servicetype=self._named(attrs, SERVICE_TYPE),
            framedprotocol=self._named(attrs, FRAMED_PROTOCOL),
            framedipaddress=_ipv4(attrs, FRAMED_IP_ADDRESS),
            framedipv6address=_ipv6(attrs, FRAMED_IPV6_ADDRESS),
            framedipv6prefix=_ipv6_prefix(attrs, FRAMED_IPV6_PREFIX),
            framedinterfaceid=_interface_id(attrs),
            delegatedipv6prefix=_ipv6_prefix(attrs, DELEGATED_IPV6_PREFIX),
            class_=_text(attrs, codec.CLASS),
            account_id=account_id,
            nas_id=client.nas_id,
            site_id=client.site_id,
            commune_id=client.commune_id,
            device_mac=canonical_mac(calling) if calling else None,
        )
