"""Builds the RADIUS service from the settings: the one place its parts meet."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from accounts.disconnect import CoaResult, disconnect_session
from accounts.passwords import PasswordHasher
from accounts.policies import Policy
from accounts.secretbox import SecretBox
from radius import DICTIONARY
from radius.accounting import Accounting, SessionClass
from radius.clients import ClientTable
from radius.coa import CoaClient
from radius.codec import Codec
from radius.core import PortKind, ServerCore
from radius.duplicates import DuplicateCache
from radius.pipeline import Pipeline
from radius.server import BoundedVerifier, Housekeeping, Listener, RadiusService, open_udp_socket
from radius.sqlstore import SqlStore
from radius.verifycache import VerificationCache
from sesame.db import create_sessionmaker
from sesame.settings import Settings


def radius_listeners(settings: Settings, *, reuse_port: bool = False) -> list[Listener]:
    """Open every RADIUS socket now, so a port in use stops start-up before anything runs."""
    listeners: list[Listener] = []
    try:
        for address in settings.radius.addresses:
            for kind, port in (
                (PortKind.AUTH, settings.radius.auth_port),
                (PortKind.ACCT, settings.radius.acct_port),
            ):
                sock = open_udp_socket(address, port, reuse_port=reuse_port)
                listeners.append(Listener(kind=kind, address=address, port=port, sock=sock))
    except Exception:
        for listener in listeners:
            listener.sock.close()
        raise
    return listeners


def build_coa_client(settings: Settings, codec: Codec | None = None) -> CoaClient:
    """Sends Disconnect- and CoA-Requests to access points (RFC 5176)."""
    return CoaClient(
        codec or Codec([DICTIONARY, *settings.radius.dictionary_files]),
        timeout=settings.accounting.coa_timeout,
        retries=settings.accounting.coa_retries,
    )


async def _disconnect(
    sessions: async_sessionmaker[AsyncSession], box: SecretBox, send: CoaClient, radacctid: int
) -> CoaResult:
    return await disconnect_session(sessions, box=box, radacctid=radacctid, send=send)


def build_radius(settings: Settings, engine: AsyncEngine, *, housekeeping: bool = True) -> RadiusService:
    """The RADIUS service; ``housekeeping``: this process also runs the periodic session upkeep
    (exactly one process should: the first worker)."""
    radius = settings.radius
    codec = Codec([DICTIONARY, *radius.dictionary_files])
    box = SecretBox(settings.secret_key.get_secret_value())
    sessions = create_sessionmaker(engine)
    store = SqlStore(
        sessions=sessions,
        box=box,
        realm=settings.realm,
        region_name=settings.region_name,
        defaults=Policy(**settings.policy.model_dump()),
        cache_size=radius.cache_size,
        accounting_batch=settings.accounting.batch_size,
        timezone=settings.accounting.timezone,
    )
    classes = SessionClass(box.digest(b"class", purpose="radius-class").encode())
    verifier = BoundedVerifier(
        PasswordHasher(), threads=radius.password_threads, max_pending=radius.max_pending_verifications
    )
    pipeline = Pipeline(
        realm=settings.realm,
        store=store,
        verify_password=verifier,
        verification_cache=VerificationCache(
            ttl=radius.verification_ttl, max_entries=radius.verification_cache_size
        ),
        classes=classes,
    )
    accounting = Accounting(codec_=codec, realm=settings.realm, store=store, classes=classes)
    cores = {
        kind: ServerCore(
            kind=kind,
            clients=ClientTable(),
            codec_=codec,
            duplicates=DuplicateCache(lifetime=radius.duplicate_lifetime),
        )
        for kind in PortKind
    }
    return RadiusService(
        auth=cores[PortKind.AUTH],
        acct=cores[PortKind.ACCT],
        handlers={PortKind.AUTH: pipeline.decide, PortKind.ACCT: accounting},
        store=store,
        verifier=verifier,
        workers=radius.concurrency,
        accounting_workers=settings.accounting.concurrency,
        queue_size=radius.queue_size,
        housekeeping=Housekeeping(
            stale_after=timedelta(seconds=settings.accounting.stale_after),
            disconnect=partial(_disconnect, sessions, box, build_coa_client(settings, codec)),
        )
        if housekeeping
        else None,
    )
