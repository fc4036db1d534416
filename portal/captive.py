"""RFC 8908 Captive Portal API, for devices told of it by DHCP option 114 or an RA (RFC 8910).

``GET /api/captive`` answers ``application/captive+json``: ``captive`` and the portal's URL, and,
for a device we can see connected, how long it has left. A device is recognised by its address
among the open sessions' Framed-IP-Address: that works when the portal sees the client's own
address (the portal on the hotspot's network, or a controller that proxies it); otherwise the
device is reported captive, which only makes it open the portal (RFC 8908 §5).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from accounts.models import AccountingSession
from portal.context import PortalDep

router = APIRouter(tags=["captive portal"])

MEDIA_TYPE = "application/captive+json"


@router.get(
    "/api/captive",
    response_class=Response,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "the device's captive state"}},
)
async def captive(request: Request, portal: PortalDep) -> Response:
    """The device's captive state (RFC 8908 §5)."""
    body: dict[str, object] = {"captive": True, "user-portal-url": f"{portal.config.public_url}/"}
    address = request.client.host if request.client else None
    if address:
        async with portal.transaction() as session:
            row = (
                await session.execute(
                    select(AccountingSession.acctstarttime, AccountingSession.nas_id)
                    .where(
                        AccountingSession.framedipaddress == address, AccountingSession.acctstoptime.is_(None)
                    )
                    .order_by(AccountingSession.acctstarttime.desc())
                    .limit(1)
                )
            ).first()
        if row is not None:
            body["captive"] = False
    body["venue-info-url"] = f"{portal.config.public_url}/terms"
    return Response(json.dumps(body), media_type=MEDIA_TYPE, headers={"Cache-Control": "private, no-store"})
