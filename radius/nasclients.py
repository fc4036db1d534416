"""The access points allowed to talk RADIUS to us, read from the ``nas`` table: whether it changed
since the last look (a count and the latest ``updated_at``), and the client table to route with.
An access point whose secret cannot be decrypted is left out and logged, not fatal."""

from __future__ import annotations

import ipaddress
import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.errors import SecretUnreadable
from accounts.models import Nas, Site
from accounts.network import nas_secret
from accounts.secretbox import SecretBox
from radius.clients import Client, ClientTable

log = logging.getLogger(__name__)


class NasClients:
    """The client-table part of :class:`radius.sqlstore.SqlStore`."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self.sessions = sessions
        self.box = box
        self._version: tuple[int, datetime | None] | None = None

    async def changed(self) -> bool:
        """Whether an access point was added, changed or removed since the last call (True the first
        time). A removal lowers the count; an addition or a change moves ``max(updated_at)``."""
        async with self.sessions() as session:
            count, latest = (
                await session.execute(select(func.count(Nas.id), func.max(Nas.updated_at)))
            ).one()
        version = (int(count), latest)
        changed = version != self._version
        self._version = version
        return changed

    async def load(self) -> ClientTable:
        async with self.sessions() as session:
            rows = (
                await session.execute(select(Nas, Site.commune_id).join(Site, Site.id == Nas.site_id))
            ).all()
        clients = []
        for nas, commune_id in rows:
            try:
                secret = nas_secret(self.box, nas)
            except SecretUnreadable:
                log.error(
                    "access point %s: its shared secret cannot be decrypted; it is ignored", nas.shortname
                )
                continue
            clients.append(
                Client(
                    id=nas.id,
                    name=nas.shortname,
                    network=ipaddress.ip_network(nas.nasname),
                    secret=secret,
                    require_message_authenticator=nas.require_message_authenticator,
                    site_id=nas.site_id,
                    commune_id=commune_id,
                    vendor=nas.type,
                )
            )
        return ClientTable(clients)
