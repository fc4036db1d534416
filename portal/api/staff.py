"""Admins and service clients under ``/api/v1/admins`` and ``/api/v1/clients``: region admins
manage them (auditors may list them). A change of role, commune, state or password revokes every
token the holder had; nobody disables or demotes themselves, and the last active region admin
stays one (:func:`accounts.staff.change_admin`, 409: the console keeps the same rule)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import select

from accounts import admins, audit, staff
from accounts.admins import READ_ADMINS, WRITE_ADMINS
from accounts.models import Admin, AdminRole, ServiceClient
from portal.api.auth import Principal, require
from portal.api.common import MAX_ID, Id, Page, PageParams, paginate
from portal.api.inputs import Patch, Text
from portal.api.network import commune_in_reach
from portal.context import PortalDep

router = APIRouter(tags=["admins"])

Manager = Annotated[Principal, Depends(require(WRITE_ADMINS, region_wide=True))]
Reader = Annotated[Principal, Depends(require(READ_ADMINS, region_wide=True))]


ROLE = "region_admin, commune_admin, support or auditor (the rights table)"
COMMUNE = "the commune of a commune_admin (required for that role, refused for the others)"


class AdminIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Text = Field(max_length=254, description="their log-in")
    role: AdminRole = Field(description=ROLE)
    commune_id: int | None = Field(default=None, ge=1, le=MAX_ID, description=COMMUNE)
    password: SecretStr = Field(max_length=1024, description="their password (write-only)")


class AdminPatch(Patch):
    nullable = frozenset({"commune_id"})  # no commune (a role other than commune_admin)
    role: AdminRole | None = Field(default=None, description=ROLE + "; their tokens are revoked")
    commune_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description=COMMUNE + "; null for another role"
    )
    active: bool | None = Field(default=None, description="false: they can no longer log in (tokens revoked)")
    password: SecretStr | None = Field(
        default=None, max_length=1024, description="a new password (write-only; tokens revoked)"
    )


class AdminOut(BaseModel):
    id: int
    email: str
    role: AdminRole
    commune_id: int | None
    active: bool
    last_login_at: datetime | None


class ClientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=120, description="what the client is ('Valence IT')")
    role: AdminRole = Field(description=ROLE)
    commune_id: int | None = Field(default=None, ge=1, le=MAX_ID, description=COMMUNE)


class ClientOut(BaseModel):
    id: int
    client_id: str
    name: str
    role: AdminRole
    commune_id: int | None
    active: bool


class ClientCreated(ClientOut):
    client_secret: str = Field(description="shown once, never again")


def _admin(a: Admin) -> AdminOut:
    return AdminOut(
        id=a.id, email=a.email, role=AdminRole(a.role), commune_id=a.commune_id, active=a.active,
        last_login_at=a.last_login_at,
    )  # fmt: skip


def _client(c: ServiceClient) -> ClientOut:
    return ClientOut(
        id=c.id,
        client_id=c.client_id,
        name=c.name,
        role=AdminRole(c.role),
        commune_id=c.commune_id,
        active=c.active,
    )


@router.get("/admins", response_model=Page[AdminOut])
async def list_admins(
    who: Reader, portal: PortalDep, params: Annotated[PageParams, Depends()]
) -> Page[AdminOut]:
    async with portal.transaction() as session:
        return await paginate(session, select(Admin).order_by(Admin.email), params, _admin)


@router.post("/admins", response_model=AdminOut, status_code=201)
async def create_admin(body: AdminIn, who: Manager, portal: PortalDep) -> AdminOut:
    async with portal.transaction() as session:
        commune = await commune_in_reach(session, who.reach, body.commune_id) if body.commune_id else None
        admin = await admins.create_admin(
            session, hasher=portal.hasher, email=body.email, role=body.role, commune=commune,
            password=body.password.get_secret_value(),
        )  # fmt: skip
        out = _admin(admin)
        await audit.record(
            session, actor=who.actor, action="admin.create", target=f"admin:{admin.id}",
            commune_id=admin.commune_id, after=out.model_dump(mode="json") | {"password": "set"},
        )  # fmt: skip
    return out


@router.patch("/admins/{admin_id}", response_model=AdminOut)
async def update_admin(admin_id: Id, body: AdminPatch, who: Manager, portal: PortalDep) -> AdminOut:
    changes = body.model_dump(exclude_unset=True)
    async with portal.transaction() as session:
        admin = await session.get(Admin, admin_id)
        if admin is None:
            raise HTTPException(404, detail=f"no admin {admin_id}")
        before = _admin(admin).model_dump(mode="json")
        role = changes.get("role", admin.role)
        commune_id = changes.get("commune_id", admin.commune_id)
        if role != AdminRole.COMMUNE_ADMIN:
            commune_id = None
        if (role == AdminRole.COMMUNE_ADMIN) != (commune_id is not None):
            raise HTTPException(
                422, detail="a commune admin needs a commune, and only a commune admin has one"
            )
        commune = await commune_in_reach(session, who.reach, commune_id) if commune_id is not None else None
        if body.password is not None:
            admin.password_hash = await admins.set_password(
                portal.hasher, admin, body.password.get_secret_value()
            )
        # the region keeps an active region admin, and nobody disables or demotes themselves
        # (409); whatever changed, old tokens stop
        await staff.change_admin(
            session, admin=admin, role=role, commune=commune,
            active=body.active if body.active is not None else admin.active,
            by=admin.id if who.actor == admin.email else None,
        )  # fmt: skip
        out = _admin(admin)
        after = out.model_dump(mode="json") | ({"password": "changed"} if body.password else {})
        await audit.record(
            session, actor=who.actor, action="admin.update", target=f"admin:{admin.id}",
            commune_id=admin.commune_id, before=before, after=after,
        )  # fmt: skip
    return out


@router.get("/clients", response_model=Page[ClientOut])
async def list_clients(
    who: Reader, portal: PortalDep, params: Annotated[PageParams, Depends()]
) -> Page[ClientOut]:
    async with portal.transaction() as session:
        return await paginate(session, select(ServiceClient).order_by(ServiceClient.id), params, _client)


@router.post("/clients", response_model=ClientCreated, status_code=201)
async def create_client(body: ClientIn, who: Manager, portal: PortalDep) -> ClientCreated:
    async with portal.transaction() as session:
        commune = await commune_in_reach(session, who.reach, body.commune_id) if body.commune_id else None
        client, secret = await admins.create_client(
            session, box=portal.box, name=body.name, role=body.role, commune=commune
        )
        out = _client(client)
        await audit.record(
            session, actor=who.actor, action="client.create", target=f"client:{client.client_id}",
            commune_id=client.commune_id, after=out.model_dump(mode="json") | {"secret": "set"},
        )  # fmt: skip
    return ClientCreated(**out.model_dump(), client_secret=secret)


@router.post("/clients/{client_pk}/disable", response_model=ClientOut)
async def disable_client(client_pk: Id, who: Manager, portal: PortalDep) -> ClientOut:
    async with portal.transaction() as session:
        client = await session.get(ServiceClient, client_pk)
        if client is None:
            raise HTTPException(404, detail=f"no client {client_pk}")
        client.active = False
        await admins.revoke_all(session, admin=client)
        out = _client(client)
        await audit.record(
            session, actor=who.actor, action="client.disable", target=f"client:{client.client_id}",
            commune_id=client.commune_id, after={"active": False},
        )  # fmt: skip
    return out
