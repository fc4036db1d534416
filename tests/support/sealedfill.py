"""A database filled through the services with one of every secret sealed or keyed with
``SESAME_SECRET_KEY``, and the clear values, for the key rotation and backup tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import (
    admins,
    codes,
    credentials,
    identitylinks,
    network,
    partners,
    tokens,
    twofactor,
    users,
    vouchers,
)
from accounts.models import AdminRole, CodePurpose, utcnow
from accounts.network import ensure_home_region
from accounts.partners import HomeServerSpec
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from accounts.selfservice import Consent

NAS_ADDRESS = "127.0.0.1"
NAS_SECRET = "nas-shared-secret-0123"
UAM_SECRET = "uam-secret-4567"
HOME_SERVER_SECRET = "liguria-secret-89ab"
PASSWORD = "correct horse battery 42"


@dataclass(frozen=True, slots=True, kw_only=True)
class Filled:
    """The clear values behind what was stored."""

    username: str
    password: str
    nas_name: str
    device_password: str
    device_credential_id: int
    token: str
    nas_id: int
    closed_email: str
    pseudonym: str
    client_id: str
    client_secret: str
    code: str
    totp_secret: str
    voucher_code: str


async def fill(session: AsyncSession, *, box: SecretBox, hasher: PasswordHasher, realm: str) -> Filled:
    """Accounts, an access point with its secret and hand-off secret, a device credential, a
    live portal token, a closed account, a partner's home server, a service client, an email
    code, a staff TOTP secret and a guest's voucher; the caller commits."""
    region = await ensure_home_region(session, realm=realm, name="Région de test")
    commune = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
    site = await network.add_site(session, commune=commune, name="Médiathèque")
    nas = await network.add_nas(
        session, box=box, site=site, name="ap-mediatheque", address=NAS_ADDRESS, secret=NAS_SECRET
    )
    await network.set_handoff(session, box=box, nas=nas, handoff="coovachilli", uam_secret=UAM_SECRET)
    alice = await users.create_account(
        session, hasher=hasher, region=region, username="alice", email="alice@example.org",
        password=PASSWORD, verified=True,
    )  # fmt: skip
    credential, device_password = await credentials.create_device_credential(
        session, box=box, account=alice, label="phone"
    )
    token = await tokens.issue_token(
        session, box=box, account=alice, nas_id=nas.id, now=utcnow(), lifetime=timedelta(days=1)
    )
    code = await codes.issue_code(
        session, box=box, account=alice, purpose=CodePurpose.RESET_PASSWORD, now=utcnow()
    )
    bob = await users.create_account(
        session, hasher=hasher, region=region, username="bob", email="bob@example.org",
        password=PASSWORD, verified=True,
    )  # fmt: skip
    pseudonym = await users.delete_account(session, box=box, account=bob, now=utcnow())
    await partners.add_partner(
        session,
        box=box,
        home_realm=realm,
        name="liguria",
        realms=["liguria.example"],
        servers=[HomeServerSpec(host="192.0.2.10", secret=HOME_SERVER_SECRET)],
    )
    client, client_secret = await admins.create_client(
        session, box=box, name="monitoring", role=AdminRole.SUPPORT
    )
    staff = await admins.create_admin(session, hasher=hasher, email="it@test.example", role=AdminRole.SUPPORT)
    totp_secret = await twofactor.start_enrolment(session, box=box, admin=staff)
    await identitylinks.sign_up(  # a civil identity kept from a provider (the region chose to)
        session, box=box, hasher=hasher, region=region, provider="franceconnect", subject="pairwise-sub-1",
        username="fc-carol", consent=Consent(version="v1", accepted_at=utcnow()),
        civil={"given_name": "Carol", "family_name": "Martin"},
    )  # fmt: skip
    _batch, voucher_codes = await vouchers.create_batch(
        session, box=box, region=region, commune=commune, created_by="it@test.example", now=utcnow(),
        spec=vouchers.BatchSpec(
            label="Desk", count=1, valid_from=utcnow(), valid_until=utcnow() + timedelta(days=1),
            duration=timedelta(hours=2),
        ),
    )  # fmt: skip
    await session.flush()
    return Filled(
        username="alice",
        password=PASSWORD,
        nas_name=nas.shortname,
        device_password=device_password,
        device_credential_id=credential.id,
        token=token,
        nas_id=nas.id,
        closed_email="bob@example.org",
        pseudonym=pseudonym,
        client_id=client.client_id,
        client_secret=client_secret,
        code=code,
        totp_secret=totp_secret,
        voucher_code=voucher_codes[0],
    )
