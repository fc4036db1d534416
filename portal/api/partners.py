"""Partner regions of the federation under ``/api/v1/partners``: region-wide only (region admins
change them, auditors read them), audited.

A partner has realm patterns routed to it and home servers we proxy to. A home server's shared
secret is write-only: it is set when the server is added, never read back. Each server shows the
health state the RADIUS processes last recorded; the RADIUS processes reload a change within
seconds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accounts import audit, partners
from accounts.admins import READ_PARTNERS, WRITE_PARTNERS
from accounts.errors import NotFound
from accounts.models import HomeServer, Partner
from portal.api.auth import Principal, require
from portal.api.common import Id, Page, PageParams, paginate
from portal.api.inputs import Patch, Text
from portal.context import PortalDep

router = APIRouter(tags=["partners"])

Reader = Annotated[Principal, Depends(require(READ_PARTNERS, region_wide=True))]
Writer = Annotated[Principal, Depends(require(WRITE_PARTNERS, region_wide=True))]
Pattern = Annotated[Text, Path(min_length=1, max_length=255, description="a.example, *.a.example or *")]
RealmText = Annotated[Text, Field(min_length=1, max_length=255)]


# -- schemas -------------------------------------------------------------------------------------

REALMS = "realms routed to them: a.example, *.a.example (its subdomains) or * (the upstream proxy)"
ACCEPT_REQUESTS = "they may send us requests for our realm (our citizens roaming there)"
TRANSIT = "their requests for realms that are not ours may be proxied onwards"
FORWARD_ACCOUNTING = "accounting for their realms is forwarded to them rather than answered here"
SIGNED_REPLIES = (
    "refuse this server's Access-Accept/Reject without Message-Authenticator (BlastRADIUS); false only "
    "for a legacy server that cannot sign them: the partner's other servers and every other partner "
    "keep refusing unsigned replies"
)


class HomeServerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    host: Text = Field(min_length=1, max_length=255, description="an IP address or a DNS name")
    port: int | None = Field(default=None, ge=1, le=65535, description="1812 over UDP, 2083 over RadSec")
    transport: Literal["udp", "radsec"] = Field(
        default="udp", description="udp (RFC 2865) or radsec (RADIUS over TLS, RFC 6614)"
    )
    secret: SecretStr | None = Field(
        default=None,
        max_length=128,
        description="the shared secret (write-only): needed over UDP; over RadSec 'radsec' by default",
    )
    tls_name: Text | None = Field(
        default=None, max_length=255, description="the name the RadSec certificate must carry (the host)"
    )
    priority: int = Field(default=0, ge=0, le=partners.MAX_PRIORITY, description="lower is tried first")
    acct_port: int | None = Field(
        default=None, ge=1, le=65535, description="UDP: where forwarded accounting goes (default: port + 1)"
    )
    require_message_authenticator: bool = Field(default=True, description=SIGNED_REPLIES)

    def spec(self) -> partners.HomeServerSpec:
        return partners.HomeServerSpec(
            host=self.host, port=self.port, transport=self.transport,
            secret=self.secret.get_secret_value() if self.secret is not None else None,
            tls_name=self.tls_name, priority=self.priority, acct_port=self.acct_port,
            require_message_authenticator=self.require_message_authenticator,
        )  # fmt: skip


class PartnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=63, description="a lower-case slug")
    display_name: Text | None = Field(default=None, max_length=120, description="a name for people")
    realms: list[RealmText] = Field(
        default_factory=list, max_length=100, description=REALMS + " (none: they only send us requests)"
    )
    servers: list[HomeServerIn] = Field(min_length=1, max_length=20, description="their home servers")
    accept_requests: bool = Field(default=True, description=ACCEPT_REQUESTS)
    transit: bool = Field(default=False, description=TRANSIT)
    forward_accounting: bool = Field(default=False, description=FORWARD_ACCOUNTING)


class PartnerPatch(Patch):
    display_name: Text | None = Field(default=None, max_length=120, description="'' removes it")
    accept_requests: bool | None = Field(default=None, description=ACCEPT_REQUESTS)
    transit: bool | None = Field(default=None, description=TRANSIT)
    forward_accounting: bool | None = Field(default=None, description=FORWARD_ACCOUNTING)


class HomeServerPatch(Patch):
    """What may change on a home server in place (its address, transport or secret: remove it and
    add it again, or rotate the secret with ``sesame partner server secret``)."""

    require_message_authenticator: bool | None = Field(default=None, description=SIGNED_REPLIES)


class RealmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pattern: RealmText = Field(description=REALMS)


class HomeServerOut(BaseModel):
    id: int
    host: str
    port: int
    transport: str
    tls_name: str | None
    priority: int
    acct_port: int | None
    require_message_authenticator: bool
    state: str = Field(description="health from the RADIUS processes: unknown, alive, zombie, dead")
    state_changed_at: datetime | None


class PartnerOut(BaseModel):
    id: int
    name: str
    display_name: str | None
    realms: list[str]
    accept_requests: bool
    transit: bool
    forward_accounting: bool
    servers: list[HomeServerOut] = Field(description="in the order they are tried")
    created_at: datetime
    updated_at: datetime


def server_out(s: HomeServer) -> HomeServerOut:
    """A home server as the API (and the console) show it: never its secret."""
    return HomeServerOut(
        id=s.id, host=s.host, port=s.port, transport=s.transport, tls_name=s.tls_name, priority=s.priority,
        acct_port=s.acct_port, require_message_authenticator=s.require_message_authenticator,
        state=s.state, state_changed_at=s.state_changed_at,
    )  # fmt: skip


def partner_out(p: Partner) -> PartnerOut:
    """A partner as the API (and the console) show it, its servers in the order they are tried."""
    return PartnerOut(
        id=p.id,
        name=p.name,
        display_name=p.display_name,
        realms=sorted(r.pattern for r in p.realms),
        accept_requests=p.accept_requests,
        transit=p.transit,
        forward_accounting=p.forward_accounting,
        servers=[server_out(s) for s in sorted(p.servers, key=lambda s: (s.priority, s.id))],
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def audited_server(out: HomeServerOut) -> dict[str, object]:
    """What the audit log keeps of a home server: its configuration, not its health."""
    return out.model_dump(mode="json", exclude={"state", "state_changed_at"})


def audited_partner(out: PartnerOut) -> dict[str, object]:
    """What the audit log keeps of a partner: its configuration, not its servers' health."""
    return out.model_dump(mode="json", exclude={"created_at", "updated_at"}) | {
        "servers": [audited_server(s) for s in out.servers]
    }


# -- partners --------------------------------------------------------------------------------------


@router.get("/partners", response_model=Page[PartnerOut])
async def list_partners(
    who: Reader, portal: PortalDep, params: Annotated[PageParams, Depends()]
) -> Page[PartnerOut]:
    query = (
        select(Partner)
        .options(selectinload(Partner.realms), selectinload(Partner.servers))
        .order_by(Partner.name, Partner.id)
    )
    async with portal.transaction() as session:
        return await paginate(session, query, params, partner_out)


@router.get("/partners/{partner_id}", response_model=PartnerOut)
async def get_partner(partner_id: Id, who: Reader, portal: PortalDep) -> PartnerOut:
    async with portal.transaction() as session:
        return partner_out(await partners.get_partner(session, name_or_id=partner_id))


@router.post("/partners", response_model=PartnerOut, status_code=201)
async def create_partner(body: PartnerIn, who: Writer, portal: PortalDep) -> PartnerOut:
    async with portal.transaction() as session:
        partner = await partners.add_partner(
            session, box=portal.box, home_realm=portal.config.realm, name=body.name, realms=body.realms,
            servers=[s.spec() for s in body.servers], display_name=body.display_name,
            accept_requests=body.accept_requests, transit=body.transit,
            forward_accounting=body.forward_accounting,
        )  # fmt: skip
        out = partner_out(partner)
        await audit.record(
            session, actor=who.actor, action="partner.create", target=f"partner:{partner.id}",
            after=audited_partner(out) | {"secrets": "set"},
        )  # fmt: skip
    return out


@router.patch("/partners/{partner_id}", response_model=PartnerOut)
async def update_partner(partner_id: Id, body: PartnerPatch, who: Writer, portal: PortalDep) -> PartnerOut:
    async with portal.transaction() as session:
        partner = await partners.get_partner(session, name_or_id=partner_id)
        before = audited_partner(partner_out(partner))
        await partners.update_partner(
            session, partner=partner, display_name=body.display_name, accept_requests=body.accept_requests,
            transit=body.transit, forward_accounting=body.forward_accounting,
        )  # fmt: skip
        out = partner_out(partner)
        await audit.record(
            session, actor=who.actor, action="partner.update", target=f"partner:{partner.id}",
            before=before, after=audited_partner(out),
        )  # fmt: skip
    return out


@router.delete("/partners/{partner_id}", status_code=204)
async def delete_partner(partner_id: Id, who: Writer, portal: PortalDep) -> Response:
    async with portal.transaction() as session:
        partner = await partners.get_partner(session, name_or_id=partner_id)
        before = audited_partner(partner_out(partner))
        await partners.remove_partner(session, partner=partner)
        await audit.record(
            session, actor=who.actor, action="partner.delete", target=f"partner:{partner_id}", before=before
        )
    return Response(status_code=204)


# -- realms and home servers -----------------------------------------------------------------------


@router.post("/partners/{partner_id}/realms", response_model=PartnerOut, status_code=201)
async def add_realm(partner_id: Id, body: RealmIn, who: Writer, portal: PortalDep) -> PartnerOut:
    async with portal.transaction() as session:
        partner = await partners.get_partner(session, name_or_id=partner_id)
        realm = await partners.add_realm(
            session, partner=partner, home_realm=portal.config.realm, pattern=body.pattern
        )
        await audit.record(
            session, actor=who.actor, action="partner.realm.add", target=f"partner:{partner.id}",
            after={"pattern": realm.pattern},
        )  # fmt: skip
        return partner_out(partner)


@router.delete("/partners/{partner_id}/realms/{pattern}", status_code=204)
async def remove_realm(partner_id: Id, pattern: Pattern, who: Writer, portal: PortalDep) -> Response:
    async with portal.transaction() as session:
        partner = await partners.get_partner(session, name_or_id=partner_id)
        await partners.remove_realm(session, partner=partner, pattern=pattern)
        await audit.record(
            session, actor=who.actor, action="partner.realm.remove", target=f"partner:{partner.id}",
            before={"pattern": partners.normalize_realm_pattern(pattern)},
        )  # fmt: skip
    return Response(status_code=204)


@router.post("/partners/{partner_id}/servers", response_model=HomeServerOut, status_code=201)
async def add_home_server(
    partner_id: Id, body: HomeServerIn, who: Writer, portal: PortalDep
) -> HomeServerOut:
    async with portal.transaction() as session:
        partner = await partners.get_partner(session, name_or_id=partner_id)
        server = await partners.add_home_server(session, box=portal.box, partner=partner, server=body.spec())
        out = server_out(server)
        await audit.record(
            session, actor=who.actor, action="partner.server.add", target=f"partner:{partner.id}",
            after=audited_server(out) | {"secret": "set"},
        )  # fmt: skip
    return out


@router.patch("/partners/{partner_id}/servers/{server_id}", response_model=HomeServerOut)
async def update_home_server(
    partner_id: Id, server_id: Id, body: HomeServerPatch, who: Writer, portal: PortalDep
) -> HomeServerOut:
    async with portal.transaction() as session:
        partner = await partners.get_partner(session, name_or_id=partner_id)
        server = next((s for s in partner.servers if s.id == server_id), None)
        if server is None:
            raise NotFound(f"partner {partner.name} has no home server {server_id}")
        before = audited_server(server_out(server))
        changes = body.changes()
        if "require_message_authenticator" in changes:
            await partners.set_home_server_message_authenticator(
                session,
                partner=partner,
                server_id=server_id,
                required=changes["require_message_authenticator"],
            )
        out = server_out(server)
        await audit.record(
            session, actor=who.actor, action="partner.server.update", target=f"partner:{partner.id}",
            before=before, after=audited_server(out),
        )  # fmt: skip
    return out


@router.delete("/partners/{partner_id}/servers/{server_id}", status_code=204)
async def remove_home_server(partner_id: Id, server_id: Id, who: Writer, portal: PortalDep) -> Response:
    async with portal.transaction() as session:
        partner = await partners.get_partner(session, name_or_id=partner_id)
        server = next((s for s in partner.servers if s.id == server_id), None)
        before = audited_server(server_out(server)) if server else None
        await partners.remove_home_server(session, partner=partner, server_id=server_id)
        await audit.record(
            session, actor=who.actor, action="partner.server.remove", target=f"partner:{partner.id}",
            before=before,
        )  # fmt: skip
    return Response(status_code=204)
