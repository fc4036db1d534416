"""Builds the RADIUS service from the settings: the one place its parts meet."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.passwords import PasswordHasher
from accounts.policies import Policy
from accounts.secretbox import SecretBox
from radius import DICTIONARY
from radius.clients import ClientTable
from radius.codec import Codec
from radius.core import PortKind, ServerCore
from radius.duplicates import DuplicateCache
from radius.pipeline import Pipeline
from radius.server import BoundedVerifier, Listener, RadiusService, open_udp_socket
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


def build_radius(settings: Settings, engine: AsyncEngine) -> RadiusService:
    radius = settings.radius
    codec = Codec([DICTIONARY, *radius.dictionary_files])
    store = SqlStore(
        sessions=create_sessionmaker(engine),
        box=SecretBox(settings.secret_key.get_secret_value()),
        realm=settings.realm,
        region_name=settings.region_name,
        defaults=Policy(**settings.policy.model_dump()),
        cache_size=radius.cache_size,
    )
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
    )
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
        handlers={PortKind.AUTH: pipeline.decide},
        store=store,
        verifier=verifier,
        workers=radius.concurrency,
        queue_size=radius.queue_size,
    )
