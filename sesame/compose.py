"""Builds the RADIUS service from the settings: the one place its parts meet."""

from __future__ import annotations

import functools
import logging
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from accounts.deviceca import DeviceIssuer
from accounts.disconnect import CoaResult, disconnect_over_limit
from accounts.network import HANDOFFS
from accounts.opendata import OpenDataPolicy
from accounts.passwords import PasswordHasher
from accounts.policies import Policy
from accounts.recordsexport import RecordsSigner
from accounts.secretbox import SecretBox
from federation.dispatch import AccountingForwarder, Dispatcher
from federation.fticks import FTicks
from federation.health import Timers
from federation.proxy import ProxyCore
from federation.radsec import open_tcp_socket
from federation.relay import LocalLimits
from federation.service import Federation
from federation.store import PartnerStore
from federation.tls import TlsFiles, client_context, server_context
from portal.context import EapProfile, OnboardingNetwork, Portal, PortalConfig, PublishedCa
from portal.handoff import integration
from portal.mail import Mailer, OutboxMailer, Postman, SmtpMailer
from portal.onboarding import apple
from portal.onboarding.builders import builders
from portal.onboarding.formats import Builder, standard
from portal.throttle import DEFAULT_LIMITS, Throttle
from radius import DICTIONARY
from radius.accounting import Accounting, SessionClass
from radius.clients import Client, ClientTable
from radius.coa import CoaClient
from radius.codec import Codec
from radius.core import PortKind, ServerCore
from radius.duplicates import DuplicateCache
from radius.eap import eaptls
from radius.eap.inner import PEAP_MSCHAPV2, TTLS_EAP_MSCHAPV2, TTLS_MSCHAPV2, TTLS_PAP
from radius.eap.packet import EapType
from radius.eap.server import EapServer
from radius.eap.tlsengine import TlsConfigError, TlsSettings
from radius.eap.tunnels import Tunnels
from radius.eapcerts import (
    CertificateWatch,
    check_at_start,
    published_cas,
    read_server_certificate,
)
from radius.eapstep import EapStep
from radius.pipeline import Pipeline
from radius.ratelimit import Counters, FailureLimiter, MemoryCounters
from radius.server import (
    BindError,
    Handler,
    Housekeeping,
    Listener,
    RadiusService,
    open_udp_socket,
)
from radius.sqlstore import SqlStore
from radius.verifier import BoundedVerifier
from radius.verifycache import VerificationCache
from radius.workerlink import WorkerLink
from sesame.citizenidpsettings import citizen_idp_config
from sesame.consolesettings import map_tiles
from sesame.db import create_sessionmaker
from sesame.onboardsettings import OnboardingFileError, load_device_issuer, load_signer
from sesame.replytexts import reply_texts
from sesame.requisitionsettings import RecordsFileError, load_records_signer
from sesame.requisitionsettings import limits as requisition_limits
from sesame.settings import Settings
from sesame.sharedstate import RedisLink, SharedCounters, SharedThrottle
from sesame.smssettings import sms_config, sms_courier, sms_limits
from sesame.ssosettings import sso_config


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


@functools.cache
def _codec(files: tuple[Path, ...]) -> Codec:
    return Codec([DICTIONARY, *files])


def radius_codec(settings: Settings) -> Codec:
    """The RADIUS codec of these settings' dictionaries, parsed once per process (the RADIUS
    service and the CoA clients of the portal and the CLI share it: it is read-only)."""
    return _codec(tuple(settings.radius.dictionary_files))


def build_coa_client(settings: Settings) -> CoaClient:
    """Sends Disconnect- and CoA-Requests to access points (RFC 5176)."""
    return CoaClient(
        radius_codec(settings),
        timeout=settings.accounting.coa_timeout,
        retries=settings.accounting.coa_retries,
        sources=settings.radius.addresses,  # from the address the access points know us by
    )


async def _disconnect(
    sessions: async_sessionmaker[AsyncSession], box: SecretBox, send: CoaClient, radacctid: int
) -> CoaResult | None:
    return await disconnect_over_limit(sessions, box=box, radacctid=radacctid, send=send)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerPlace:
    """One worker process among ``count`` (``--radius-workers``): its index, and the name and key
    of the link between them (:mod:`radius.workerlink`), given by the supervisor."""

    index: int
    count: int
    name: str
    key: bytes = field(repr=False)


def redis_link(settings: Settings) -> RedisLink | None:
    """This process's link to the shared Redis (``SESAME_REDIS_URL``), None without one. Nothing is
    connected yet: the first operation, or :meth:`RedisLink.start`, does."""
    redis = settings.redis
    url = redis.url.get_secret_value()
    if not url:
        return None
    box = settings.secret_box()
    return RedisLink.from_url(
        url,
        key=bytes.fromhex(box.digest(b"redis", purpose="shared-state-keys"))[:32],
        prefix=redis.prefix,
        timeout=redis.timeout,
        retry_after=redis.retry_after,
    )


def failure_limiter(settings: Settings, redis: RedisLink | None) -> FailureLimiter:
    """RADIUS's failed-password limits, counted in Redis when there is one (every host and worker
    sees the same counts), else in this process's memory."""
    radius = settings.radius
    limits = (
        radius.guesses_per_account_device,
        radius.guesses_per_device,
        radius.guesses_per_nas,
        radius.guesses_per_account,
    )
    counters: Counters = (
        SharedCounters(redis, window=radius.guess_window, cap=max(limits))
        if redis is not None
        else MemoryCounters(window=radius.guess_window)
    )
    return FailureLimiter(
        per_identity_device=radius.guesses_per_account_device,
        per_device=radius.guesses_per_device,
        per_nas=radius.guesses_per_nas,
        per_identity=radius.guesses_per_account,
        window=radius.guess_window,
        counters=counters,
    )


def build_radius(
    settings: Settings,
    engine: AsyncEngine,
    *,
    housekeeping: bool = True,
    radsec_socket: socket.socket | None = None,
    worker: WorkerPlace | None = None,
    redis: RedisLink | None = None,
) -> RadiusService:
    """The RADIUS service; ``housekeeping``: this process also runs the periodic session upkeep
    (exactly one process should: the first worker); ``radsec_socket``: the RadSec listener for
    partners (federation), bound by the caller; ``worker``: this process's place among several
    worker processes (None: the only one); ``redis``: the link its failure limits are shared
    through (:func:`redis_link`; None: counted in this process)."""
    radius = settings.radius
    codec = radius_codec(settings)
    box = settings.secret_box()
    sessions = create_sessionmaker(engine)
    verifier = BoundedVerifier(
        PasswordHasher(),
        threads=radius.password_threads,
        max_pending=radius.max_pending_verifications,
        max_pending_per_source=radius.max_pending_verifications_per_nas,
    )
    store = SqlStore(
        rehash=verifier.rehash,  # imported hashes become argon2id at the next PAP log-in
        sessions=sessions,
        box=box,
        realm=settings.realm,
        region_name=settings.region_name,
        defaults=Policy(**settings.policy.model_dump()),
        cache_size=radius.cache_size,
        preload=radius.preload,
        accounting_batch=settings.accounting.batch_size,
        timezone=settings.accounting.timezone,
    )
    classes = SessionClass(*(d.encode() for d in box.digests(b"class", purpose="radius-class")))
    pipeline = Pipeline(
        realm=settings.realm,
        store=store,
        verify_password=verifier,
        limiter=failure_limiter(settings, redis),
        verification_cache=VerificationCache(
            ttl=radius.verification_ttl, max_entries=radius.verification_cache_size
        ),
        classes=classes,
        cui_key=box.digest(b"cui", purpose="chargeable-user-identity").encode(),
        eap=(eap := build_eap(settings, worker=worker.index if worker else 0)),
        # a Passpoint access point tells the device, before Session-Timeout, where its account is
        session_info_url=f"{settings.portal.public_url}/account" if settings.portal.enabled else "",
        texts=reply_texts(settings.portal.languages.split(",")),
    )
    accounting = Accounting(codec_=codec, realm=settings.realm, store=store, classes=classes)
    auth_handler: Handler = pipeline.decide
    acct_handler: Handler = accounting
    federation: Federation | None = None
    if settings.federation.enabled:
        federation = build_federation(settings, sessions, box, radsec_socket=radsec_socket)
        auth_handler = Dispatcher(
            federation=federation,
            local=pipeline.decide,
            limits_for=partial(_visitor_limits, store),
            record=store.record,
            fticks=FTicks(
                key=box.digest(b"fticks", purpose="fticks-csi").encode(),
                federation=settings.federation.fticks_federation,
                country=settings.federation.country,
            )
            if settings.federation.fticks
            else None,
            operator_name=settings.federation.operator_name or settings.realm,
            texts=pipeline.texts,
        )
        acct_handler = AccountingForwarder(federation=federation, local=accounting)
    cores = {
        kind: ServerCore(
            kind=kind,
            clients=ClientTable(),
            codec_=codec,
            duplicates=DuplicateCache(lifetime=radius.duplicate_lifetime),
            worker=worker.index if worker else 0,
            workers=worker.count if worker else 1,
        )
        for kind in PortKind
    }
    link = (
        WorkerLink(name=worker.name, index=worker.index, key=worker.key)
        if worker is not None and worker.count > 1
        else None
    )
    return RadiusService(
        auth=cores[PortKind.AUTH],
        acct=cores[PortKind.ACCT],
        handlers={PortKind.AUTH: auth_handler, PortKind.ACCT: acct_handler},
        store=store,
        verifier=verifier,
        workers=radius.concurrency,
        accounting_workers=settings.accounting.concurrency,
        queue_size=radius.queue_size,
        housekeeping=Housekeeping(
            stale_after=timedelta(seconds=settings.accounting.stale_after),
            disconnect=partial(_disconnect, sessions, box, build_coa_client(settings)),
        )
        if housekeeping
        else None,
        extension=federation,
        link=link,
        file_checks=[eap_certificate_watch(settings, eap.server).check] if eap is not None else [],
    )


_EAP_METHODS = {"peap": EapType.PEAP, "ttls": EapType.TTLS, "tls": EapType.TLS}
_TTLS_INNER = {"pap": TTLS_PAP, "mschapv2": TTLS_MSCHAPV2, "eap-mschapv2": TTLS_EAP_MSCHAPV2}


def eap_tls(settings: Settings) -> TlsSettings:
    """The TLS side of EAP, from ``SESAME_EAP_*`` (EAP must be enabled)."""
    eap = settings.eap
    return TlsSettings(
        certificate=Path(eap.certificate),
        private_key=Path(eap.private_key),
        private_key_password=eap.private_key_password.get_secret_value().encode(),
        device_ca=Path(eap.device_ca) if eap.device_ca else None,
        min_version=f"TLSv{eap.tls_min_version}",
        max_version=f"TLSv{eap.tls_max_version}",
    )


def check_eap(settings: Settings) -> None:
    """Before anything starts: EAP's files can be used (:func:`radius.eapcerts.check_at_start`)."""
    if settings.eap.enabled:
        check_at_start(eap_tls(settings), ca=Path(settings.eap.ca) if settings.eap.ca else None)


def check_onboarding(settings: Settings) -> None:
    """Before anything starts: the device CA's key and the profile-signing files can be used."""
    device_issuer(settings)
    try:
        load_signer(settings.onboarding)
    except OnboardingFileError as exc:
        raise TlsConfigError(f"onboarding: {exc}") from None


def records_signer(settings: Settings) -> RecordsSigner | None:
    """What signs judicial requisitions' answers (``SESAME_REQUISITION_SIGNING_*``), or None."""
    try:
        return load_records_signer(settings.requisition)
    except RecordsFileError as exc:
        raise TlsConfigError(f"requisition: {exc}") from None


def check_radsec(settings: Settings) -> None:
    """Before anything starts: RadSec's certificate, key and partners' CA can be used, both ways
    (:class:`federation.tls.TlsError` naming the file and why, else)."""
    files = radsec_tls(settings) if settings.federation.enabled else None
    if files is not None:
        server_context(files)
        client_context(files)


def eap_certificate_watch(settings: Settings, server: EapServer) -> CertificateWatch:
    """Takes a renewed certificate, key or device CA into use (every few seconds, see RadiusService)."""
    return CertificateWatch(
        server, trusted_cas=published_cas(Path(settings.eap.ca)) if settings.eap.ca else ()
    )


def build_eap(settings: Settings, *, worker: int = 0) -> EapStep | None:
    """EAP served here, when a server certificate is configured (else None: EAP is refused)."""
    eap = settings.eap
    if not eap.enabled:
        return None
    methods = [_EAP_METHODS[name] for name in eap.method_list]
    server = EapServer(
        tls=eap_tls(settings),
        inner=Tunnels(ttls=frozenset(_TTLS_INNER[name] for name in eap.ttls_inner.split(","))),
        realm=settings.realm,
        methods=methods,
        default_method=methods[0],
        worker=worker,
        fragment_size=eap.fragment_size,
        max_conversations=eap.max_conversations,
        max_per_client=eap.max_conversations_per_client,
        deadline=eap.deadline,
        max_rounds=eap.max_rounds,
    )
    return EapStep(server)


def eap_profile(settings: Settings) -> EapProfile | None:
    """What the portal publishes for devices' profiles (``/eap/``): the CA they must trust and the
    server's name, when ``SESAME_EAP_CA`` is set. With several CAs (a change of CA under way) the
    one today's server certificate chains to comes first: formats that pin one pin it."""
    eap = settings.eap
    if not (eap.enabled and eap.ca):
        return None
    cas = published_cas(Path(eap.ca))
    server = read_server_certificate(Path(eap.certificate))
    today = server.signed_by(cas) or cas[0]
    methods: list[str] = []  # what a device may use, named as decision records name it
    for name in eap.method_list:
        if name == "peap":
            methods.append(PEAP_MSCHAPV2)
        elif name == "ttls":
            methods += [_TTLS_INNER[inner] for inner in eap.ttls_inner.split(",")]
        else:
            methods.append(eaptls.METHOD_NAME)
    return EapProfile(
        ca_der=today.public_bytes(serialization.Encoding.DER),
        ca_subject=today.subject.rfc4514_string(),
        ca_not_after=today.not_valid_after_utc,
        other_cas=tuple(
            PublishedCa(
                der=ca.public_bytes(serialization.Encoding.DER),
                subject=ca.subject.rfc4514_string(),
                not_after=ca.not_valid_after_utc,
            )
            for ca in cas
            if ca is not today
        ),
        server_names=server.names,
        methods=tuple(methods),
    )


def device_issuer(settings: Settings) -> DeviceIssuer | None:
    """The device CA with its key (``SESAME_ONBOARDING_DEVICE_CA_KEY`` beside
    ``SESAME_EAP_DEVICE_CA``); None without the key: devices get a password credential."""
    if not settings.eap.enabled:
        return None
    try:
        return load_device_issuer(settings.onboarding, device_ca=settings.eap.device_ca)
    except OnboardingFileError as exc:
        raise TlsConfigError(f"onboarding: {exc}") from None


#: the profile formats' builders, by format name (portal/onboarding/formats.py STANDARD), Apple's
#: unsigned: :func:`profile_builders` binds the signer the settings name
PROFILE_BUILDERS: dict[str, Builder] = builders()


def profile_builders(settings: Settings) -> dict[str, Builder]:
    """:data:`PROFILE_BUILDERS`, with Apple's profiles signed when a signing certificate is set
    (``SESAME_ONBOARDING_SIGNING_*``; checked at start by :func:`check_onboarding`)."""
    try:
        signer = load_signer(settings.onboarding)
    except OnboardingFileError as exc:
        raise TlsConfigError(f"onboarding: {exc}") from None
    if signer is None:
        return dict(PROFILE_BUILDERS)
    return builders(apple.Signer(certificate=signer.certificate, private_key=signer.key, chain=signer.chain))


def onboarding_network(settings: Settings) -> OnboardingNetwork:
    """What profiles are made with besides the network's description (which the portal reads from
    the database at each request): the device CA, certificates' lifetime."""
    return OnboardingNetwork(
        device_issuer=device_issuer(settings), certificate_days=settings.onboarding.certificate_days
    )


def _visitor_limits(store: SqlStore, client: Client) -> LocalLimits:
    policy = store.policy(commune_id=client.commune_id, site_id=client.site_id)
    return LocalLimits(
        session_timeout=policy.session_timeout or None,
        idle_timeout=policy.idle_timeout or None,
        interim_interval=policy.interim_interval or None,
        up_kbps=policy.bandwidth_up_kbps or None,
        down_kbps=policy.bandwidth_down_kbps or None,
    )


def radsec_tls(settings: Settings) -> TlsFiles | None:
    """Our RadSec certificate, key and the partners' CA, when configured (all three or none)."""
    fed = settings.federation
    files = (fed.radsec_certificate, fed.radsec_private_key, fed.radsec_ca)
    if not any(files):
        return None
    return TlsFiles(certificate=Path(files[0]), private_key=Path(files[1]), ca=Path(files[2]))


def radsec_listener(settings: Settings) -> socket.socket | None:
    """The RadSec (RFC 6614) listener for partners, when federation and a RadSec port are set;
    :class:`BindError` when it cannot be had."""
    fed = settings.federation
    if not (fed.enabled and fed.radsec_port):
        return None
    if radsec_tls(settings) is None:
        raise BindError(
            "radsec: SESAME_FEDERATION_RADSEC_PORT is set but not the certificate, key and CA "
            "(SESAME_FEDERATION_RADSEC_CERTIFICATE, _PRIVATE_KEY, _CA)"
        )
    return open_tcp_socket(fed.radsec_bind, fed.radsec_port)


def build_federation(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    box: SecretBox,
    *,
    radsec_socket: socket.socket | None = None,
) -> Federation:
    """Partners, realm routing and the proxy (issue 7), as an extension of the RADIUS service."""
    fed = settings.federation
    store = PartnerStore(sessions=sessions, box=box)
    tls = radsec_tls(settings)
    return Federation(
        home_realm=settings.realm,
        core=ProxyCore(
            operator_name=fed.operator_name or settings.realm,
            # a tag of this deployment, the same in every worker: our own Proxy-State coming back is a loop
            loop_tag=bytes.fromhex(box.digest(b"proxy-state", purpose="federation-loop-tag")[:16]),
            timers=Timers(
                response_window=fed.response_window,
                zombie_period=fed.zombie_period,
                check_interval=fed.check_interval,
                answers_to_alive=fed.answers_to_alive,
                retry_interval=fed.retry_interval,
                retries=fed.retries,
            ),
            max_outstanding=fed.max_outstanding,
            require_message_authenticator=fed.require_message_authenticator,
        ),
        load=store.load,
        record_health=store.record_health,
        client_context=client_context(tls) if tls else None,
        server_context=server_context(tls) if tls and radsec_socket is not None else None,
        radsec_socket=radsec_socket,
        source_address=fed.source_address,
    )


def build_mailer(settings: Settings) -> Mailer:
    """SMTP when a host is set, else the outbox folder (development, tests)."""
    mail = settings.mail
    mailer: Mailer
    if mail.smtp_host:
        mailer = SmtpMailer(
            host=mail.smtp_host,
            port=mail.smtp_port,
            security=mail.smtp_security,
            username=mail.smtp_username,
            password=mail.smtp_password.get_secret_value(),
        )
    else:
        mailer = OutboxMailer(Path(mail.outbox))
        if settings.environment.value == "production":
            logging.getLogger(__name__).warning(
                "mail: no SMTP host set (SESAME_MAIL_SMTP_HOST): emails go to the folder %s", mail.outbox
            )
    return mailer


def build_portal(settings: Settings, engine: AsyncEngine, *, redis: RedisLink | None = None) -> Portal:
    """The captive portal's services: sessions, secrets, mail, languages; its throttles shared
    through ``redis`` when given (:func:`redis_link`), else kept in this process."""
    for name in HANDOFFS:
        integration(name)  # an unknown hand-off is a bug found at start-up, not at a citizen's login
    portal, mail = settings.portal, settings.mail
    mailer = build_mailer(settings)
    return Portal(
        config=PortalConfig(
            realm=settings.realm,
            region_name=settings.region_name,
            public_url=portal.public_url,
            grace=timedelta(minutes=portal.grace_minutes),
            remember=timedelta(days=portal.remember_days),
            terms_version=portal.terms_version,
            languages=tuple(portal.languages.split(",")),
            login_max_age=portal.login_hours * 3600.0,
            console_idle=portal.console_idle_minutes * 60.0,
            console_lifetime=portal.console_hours * 3600.0,
            wifi4eu_self_test=portal.wifi4eu_self_test,
            nas_address_rules=settings.radius.nas_address_rules,
            eap=eap_profile(settings),
            onboarding=onboarding_network(settings),
            requisition=requisition_limits(
                settings.requisition, connection_days=settings.retention.connection_days
            ),
            records_signer=records_signer(settings),
            opendata=OpenDataPolicy(
                public=settings.opendata.public,
                threshold=settings.opendata.threshold,
                cache_seconds=settings.opendata.cache_seconds,
            ),
            sso=sso_config(settings.sso),
            map_tiles=map_tiles(settings.console),
            citizen_idps=citizen_idp_config(settings.citizenidp),
            sms=sms_config(settings.sms),
        ),
        formats=standard(profile_builders(settings)),
        sessions=create_sessionmaker(engine),
        box=settings.secret_box(),
        hasher=PasswordHasher(),
        postman=Postman(mailer, sender=mail.sender),
        coa=build_coa_client(settings) if settings.radius.enabled else None,
        courier=sms_courier(settings.sms),
        throttle=Throttle(
            {**DEFAULT_LIMITS, **sms_limits(settings.sms)},
            store=SharedThrottle(redis) if redis is not None else None,
        ),
    )
