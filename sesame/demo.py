"""Demo data, so a newcomer can try Sésame in a minute: one commune, one site, an access point
for 127.0.0.1 and a test account whose fresh password is printed at every start."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import network, users
from accounts.errors import NotFound
from accounts.models import AccountStatus, Region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox

DEMO_COMMUNE = ("Valence", "26362")
DEMO_SITE = "Médiathèque François Mitterrand"
DEMO_NAS = "demo-ap"
DEMO_NAS_ADDRESS = "127.0.0.1"
DEMO_NAS_SECRET = "testing123"  # noqa: S105 - demo data for 127.0.0.1, printed to the user
DEMO_UAM_SECRET = "demo-uam-secret"  # noqa: S105 - demo data, for a CoovaChilli on 127.0.0.1
DEMO_USER = "demo"


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoCredentials:
    identity: str
    password: str
    nas_address: str
    nas_secret: str


async def seed_demo(
    session: AsyncSession, *, region: Region, box: SecretBox, hasher: PasswordHasher
) -> DemoCredentials:
    """Create what is missing of the demo data (idempotent) and give the demo account a new password."""
    name, code = DEMO_COMMUNE
    try:
        commune = await network.find_commune(session, code)
    except NotFound:
        commune = await network.add_commune(session, region=region, name=name, insee_code=code)
    try:
        site = await network.find_site(session, DEMO_SITE, commune=commune)
    except NotFound:
        site = await network.add_site(
            session, commune=commune, name=DEMO_SITE, address="Place Charles-Huguenel"
        )
    try:
        await network.find_nas(session, DEMO_NAS)
    except NotFound:
        nas = await network.add_nas(
            session,
            box=box,
            site=site,
            name=DEMO_NAS,
            address=DEMO_NAS_ADDRESS,
            secret=DEMO_NAS_SECRET,
            vendor="coovachilli",
        )
        # CoovaChilli's links are signed with its UAM secret (an unsigned hand-off is refused)
        await network.set_handoff(
            session, box=box, nas=nas, handoff="coovachilli", uam_secret=DEMO_UAM_SECRET
        )
    password = secrets.token_urlsafe(9)
    try:
        account = await users.find_account(session, DEMO_USER, region=region)
        await users.set_password(session, hasher=hasher, account=account, password=password)
        await users.set_status(session, account=account, status=AccountStatus.ACTIVE)
    except NotFound:
        account = await users.create_account(
            session,
            hasher=hasher,
            region=region,
            username=DEMO_USER,
            email=f"{DEMO_USER}@example.org",
            password=password,
            verified=True,
        )
    return DemoCredentials(
        identity=f"{DEMO_USER}@{region.realm}",
        password=password,
        nas_address=DEMO_NAS_ADDRESS,
        nas_secret=DEMO_NAS_SECRET,
    )
