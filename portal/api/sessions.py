"""Connections under ``/api/v1/sessions``: open ones and history, filtered by commune, site, account
and time; disconnect (RFC 5176 Disconnect-Request through the access point). A commune admin sees
their commune's sessions only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from accounts import audit
from accounts.admins import READ_SESSIONS, WRITE_SESSIONS
from accounts.disconnect import disconnect_session
from accounts.errors import NotFound
from accounts.models import AccountingSession
from accounts.sessions import SessionFilter, count_sessions, get_session, list_sessions
from portal.api.auth import Principal, require
from portal.api.common import BigId, IdFilter, Page, PageParams
from portal.api.inputs import Instant
from portal.context import PortalDep

router = APIRouter(prefix="/sessions", tags=["sessions"])

Reader = Annotated[Principal, Depends(require(READ_SESSIONS))]
Writer = Annotated[Principal, Depends(require(WRITE_SESSIONS))]


class SessionOut(BaseModel):
    id: int
    username: str | None
    account_id: int | None
    commune_id: int | None
    site_id: int | None
    access_point_id: int | None
    device: str | None
    ip: str | None
    start: datetime | None
    last_update: datetime | None
    stop: datetime | None
    seconds: int | None
    octets_in: int | None
    octets_out: int | None
    terminate_cause: str | None
    disconnect_requested_at: datetime | None


class DisconnectOut(BaseModel):
    outcome: str
    detail: str


def _out(s: AccountingSession) -> SessionOut:
    return SessionOut(
        id=s.radacctid,
        username=s.username,
        account_id=s.account_id,
        commune_id=s.commune_id,
        site_id=s.site_id,
        access_point_id=s.nas_id,
        device=s.callingstationid,
        ip=s.framedipaddress,
        start=s.acctstarttime,
        last_update=s.acctupdatetime,
        stop=s.acctstoptime,
        seconds=s.acctsessiontime,
        octets_in=s.acctinputoctets,
        octets_out=s.acctoutputoctets,
        terminate_cause=s.acctterminatecause,
        disconnect_requested_at=s.disconnect_requested_at,
    )


@router.get("", response_model=Page[SessionOut])
async def sessions(
    who: Reader,
    portal: PortalDep,
    params: Annotated[PageParams, Depends()],
    open: Annotated[bool, Query(description="only sessions still open")] = False,
    commune_id: IdFilter = None,
    site_id: IdFilter = None,
    account_id: IdFilter = None,
    since: Annotated[Instant | None, Query(description="open or ended since (with a zone)")] = None,
    until: Annotated[Instant | None, Query(description="sessions started before (with a zone)")] = None,
) -> Page[SessionOut]:
    if not who.reach.region_wide:
        if commune_id is not None and commune_id != who.reach.commune_id:
            return Page(items=[], total=0, limit=params.limit, offset=params.offset)
        commune_id = who.reach.commune_id
    where = SessionFilter(
        open_only=open,
        account_id=account_id,
        site_id=site_id,
        commune_id=commune_id,
        since=since,
        until=until,
    )
    async with portal.transaction() as session:
        total = await count_sessions(session, where)
        rows = await list_sessions(session, where, limit=params.limit, offset=params.offset)
    return Page(items=[_out(s) for s in rows], total=total, limit=params.limit, offset=params.offset)


async def _in_reach(portal: PortalDep, who: Principal, session_id: int) -> AccountingSession:
    async with portal.transaction() as session:
        row = await get_session(session, session_id)
    if not who.reach.covers(row.commune_id):
        raise NotFound(f"no session {session_id}")
    return row


@router.get("/{session_id}", response_model=SessionOut)
async def get_one(session_id: BigId, who: Reader, portal: PortalDep) -> SessionOut:
    return _out(await _in_reach(portal, who, session_id))


@router.post("/{session_id}/disconnect", response_model=DisconnectOut)
async def disconnect(session_id: BigId, who: Writer, portal: PortalDep) -> DisconnectOut:
    """Ask the access point to end the session (the answer: ack, nak with its cause, or timeout)."""
    row = await _in_reach(portal, who, session_id)
    if row.acctstoptime is not None:
        raise HTTPException(409, detail="this session has already ended")
    if portal.coa is None:
        raise HTTPException(503, detail="Change-of-Authorization is not available (RADIUS disabled)")
    result = await disconnect_session(portal.sessions, box=portal.box, radacctid=session_id, send=portal.coa)
    async with portal.transaction() as session:
        await audit.record(
            session, actor=who.actor, action="session.disconnect", target=f"session:{session_id}",
            commune_id=row.commune_id, after={"outcome": result.outcome.value, "detail": result.detail},
        )  # fmt: skip
    return DisconnectOut(outcome=result.outcome.value, detail=result.detail)
