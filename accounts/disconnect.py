"""Ending or changing a running session at its access point (RFC 5176 Disconnect / CoA).

This package knows which NAS holds a session and what names the session to it
(:func:`coa_target`); sending goes through a :class:`CoaSender` given by the caller (the RADIUS
package implements it in :mod:`radius.coa`). No transaction is held while a NAS is asked.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.bandwidth import bandwidth_attributes
from accounts.errors import InvalidInput, NotFound, SecretUnreadable
from accounts.models import AccountingSession, Nas, utcnow
from accounts.network import nas_secret
from accounts.secretbox import SecretBox
from accounts.sessions import get_session


class CoaOutcome(enum.StrEnum):
    ACK = "ack"
    NAK = "nak"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True, kw_only=True)
class CoaResult:
    outcome: CoaOutcome
    error_cause: int | None = None  # RFC 5176 §3.5 Error-Cause of a NAK
    detail: str = ""  # one line for a person: "ACK", "NAK: Session-Context-Not-Found (503)", …


@dataclass(frozen=True, slots=True, kw_only=True)
class CoaTarget:
    """Where a Disconnect- or CoA-Request goes and what identifies the session in it."""

    address: str
    port: int
    secret: bytes
    attributes: tuple[tuple[str, str | int], ...]

    def __repr__(self) -> str:  # never the secret
        return f"CoaTarget(address={self.address!r}, port={self.port!r}, attributes={self.attributes!r})"


CoaKind = Literal["disconnect", "coa"]


class CoaSender(Protocol):
    async def __call__(
        self, target: CoaTarget, *, kind: CoaKind, extra: Sequence[tuple[str, str | int]] = ()
    ) -> CoaResult: ...


async def coa_target(session: AsyncSession, box: SecretBox, radacctid: int) -> CoaTarget:
    """The NAS of an open session and the attributes that name the session to it (RFC 5176 §3)."""
    row = await get_session(session, radacctid)
    if row.acctstoptime is not None:
        raise InvalidInput(f"session {radacctid} has already ended")
    nas = await session.get(Nas, row.nas_id) if row.nas_id is not None else None
    if nas is None:
        raise NotFound(f"the access point of session {radacctid} is no longer known")
    try:
        secret = nas_secret(box, nas)
    except SecretUnreadable as exc:
        raise InvalidInput(f"session {radacctid}: {exc}") from None
    # A NAS entry may be a network (a controller's subnet): then the session's NAS address.
    address = nas.nasname if "/" not in nas.nasname else row.nasipaddress
    attributes: list[tuple[str, str | int]] = [("Acct-Session-Id", row.acctsessionid)]
    if row.username:
        attributes.append(("User-Name", row.username))
    if row.callingstationid:
        attributes.append(("Calling-Station-Id", row.callingstationid))
    if row.framedipaddress:
        attributes.append(("Framed-IP-Address", row.framedipaddress))
    if ":" in row.nasipaddress:
        attributes.append(("NAS-IPv6-Address", row.nasipaddress))
    else:
        attributes.append(("NAS-IP-Address", row.nasipaddress))
    return CoaTarget(address=address, port=nas.coa_port, secret=secret, attributes=tuple(attributes))


async def disconnect_session(
    sessions: async_sessionmaker[AsyncSession],
    *,
    box: SecretBox,
    radacctid: int,
    send: CoaSender,
    now: datetime | None = None,
) -> CoaResult:
    """Ask the session's NAS to end it (Disconnect-Request); remember that it was asked.

    No transaction is held while waiting for the NAS. The session row is closed by the NAS's
    Accounting Stop, not here: only the NAS knows the final counters.
    """
    async with sessions() as session:
        target = await coa_target(session, box, radacctid)
    result = await send(target, kind="disconnect")
    if result.outcome is CoaOutcome.ACK:
        async with sessions() as session, session.begin():
            await session.execute(
                update(AccountingSession)
                .where(AccountingSession.radacctid == radacctid)
                .values(disconnect_requested_at=now or utcnow())
            )
    return result


async def disconnect_over_limit(
    sessions: async_sessionmaker[AsyncSession],
    *,
    box: SecretBox,
    radacctid: int,
    send: CoaSender,
    now: datetime | None = None,
) -> CoaResult | None:
    """The periodic upkeep's Disconnect-Request for a session past a daily limit; None when
    another process claimed the session first.

    Every host runs the upkeep: the session is claimed first, ``disconnect_requested_at`` set by
    one atomic UPDATE where still unset, so only one host asks its NAS; a NAK, no answer, or an
    error releases the claim (that stamp only) for a later round to try again.
    """
    stamp = now or utcnow()
    async with sessions() as session, session.begin():
        claimed = await session.execute(
            update(AccountingSession)
            .where(
                AccountingSession.radacctid == radacctid,
                AccountingSession.acctstoptime.is_(None),
                AccountingSession.disconnect_requested_at.is_(None),
            )
            .values(disconnect_requested_at=stamp)
            .execution_options(synchronize_session=False)
        )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    result: CoaResult | None = None
    try:
        async with sessions() as session:
            target = await coa_target(session, box, radacctid)
        result = await send(target, kind="disconnect")
        return result
    finally:
        if result is None or result.outcome is not CoaOutcome.ACK:
            async with sessions() as session, session.begin():
                await session.execute(
                    update(AccountingSession)
                    .where(
                        AccountingSession.radacctid == radacctid,
                        AccountingSession.disconnect_requested_at == stamp,
                    )
                    .values(disconnect_requested_at=None)
                    .execution_options(synchronize_session=False)
                )


async def disconnect_account(
    sessions: async_sessionmaker[AsyncSession],
    *,
    box: SecretBox,
    account_id: int,
    send: CoaSender,
    now: datetime | None = None,
) -> list[tuple[int, CoaResult]]:
    """Ask the NAS of every open session of an account to end it (before deleting the account:
    afterwards its records carry a pseudonym the NAS does not know)."""
    async with sessions() as session:
        open_ids = (
            await session.scalars(
                select(AccountingSession.radacctid).where(
                    AccountingSession.account_id == account_id, AccountingSession.acctstoptime.is_(None)
                )
            )
        ).all()
    results = []
    for radacctid in open_ids:
        try:
            result = await disconnect_session(sessions, box=box, radacctid=radacctid, send=send, now=now)
        except (NotFound, InvalidInput) as exc:  # its NAS is gone, its secret unreadable
            result = CoaResult(outcome=CoaOutcome.NAK, detail=str(exc))
        results.append((radacctid, result))
    return results


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionChange:
    """What a CoA-Request may change in a running session (None: unchanged)."""

    session_timeout: int | None = None
    bandwidth_up_kbps: int | None = None
    bandwidth_down_kbps: int | None = None

    def attributes(self) -> list[tuple[str, str | int]]:
        """The same attributes an Access-Accept carries for these settings (see radius.pipeline)."""
        found: list[tuple[str, str | int]] = []
        if self.session_timeout is not None:
            found.append(("Session-Timeout", self.session_timeout))
        found += bandwidth_attributes(up_kbps=self.bandwidth_up_kbps, down_kbps=self.bandwidth_down_kbps)
        for name, value in found:
            if not 0 <= int(value) <= 2**32 - 1:
                raise InvalidInput(f"{name} must be between 0 and 4294967295")
        if not found:
            raise InvalidInput("nothing to change: give a session timeout or a bandwidth")
        return found


async def change_session(
    sessions: async_sessionmaker[AsyncSession],
    *,
    box: SecretBox,
    radacctid: int,
    change: SessionChange,
    send: CoaSender,
) -> CoaResult:
    """Ask the session's NAS to apply new limits to it (CoA-Request, RFC 5176)."""
    extra = change.attributes()
    async with sessions() as session:
        target = await coa_target(session, box, radacctid)
    return await send(target, kind="coa", extra=extra)


__all__ = [
    "CoaKind",
    "CoaOutcome",
    "CoaResult",
    "CoaSender",
    "CoaTarget",
    "SessionChange",
    "change_session",
    "coa_target",
    "disconnect_account",
    "disconnect_over_limit",
    "disconnect_session",
]
