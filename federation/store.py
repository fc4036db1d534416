"""The federation's view of the database: partners (polled for changes) and home-server health."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.partners import FederationConfig, federation_snapshot, federation_version, record_health
from accounts.secretbox import SecretBox


class PartnerStore:
    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self.sessions = sessions
        self.box = box
        self._version: tuple[object, ...] | None = None

    async def load(self) -> FederationConfig | None:
        """Every partner with secrets opened, or None when nothing changed since the last call
        (one cheap query: counts and latest ``updated_at``, as for access points)."""
        async with self.sessions() as session:
            version = await federation_version(session)
            if version == self._version:
                return None
            config = await federation_snapshot(session, box=self.box)
        self._version = version
        return config

    async def record_health(self, server_id: int, state: str, at: datetime) -> None:
        async with self.sessions.begin() as session:
            await record_health(session, server_id=server_id, state=state, at=at)
