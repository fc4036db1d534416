"""Connection records for the judicial requisition tests (tests/accounts/test_requisition.py and
tests/portal/test_admin_api_requisitions.py): sessions and decisions around one window, with the
addresses, MACs and identities a requisition names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import users
from accounts.models import AccountingSession, AuthRecord, Region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox

MAC = "02:00:5e:10:20:30"  # the device a requisition names, written by access points in several ways
HOSTILE = {  # what an access point may send, that a spreadsheet would run
    "username": '=HYPERLINK("http://evil.example","x")',
    "nasportid": "+1+cmd|' /C calc'!A0",
    "calledstationid": "@SUM(1,1)",
    "callingstationid": "-2+3",
    "realm": "\tindented",
    "acctterminatecause": "\rreturned",
}


@dataclass(frozen=True)
class Seeded:
    window: tuple[datetime, datetime]  # [T, T + 2 h)
    alice: int  # a live account
    bob_pseudonym: str  # a deleted account's records carry it


async def seed(
    session: AsyncSession,
    *,
    region: Region,
    hasher: PasswordHasher,
    box: SecretBox,
    t: datetime,
    commune_id: int | None,
    site_id: int | None,
    other_commune_id: int | None,
) -> Seeded:
    """Sessions named by their acctuniqueid: ``in-*`` overlap the window ``[t, t + 2 h)`` and
    ``out-*`` do not; decisions by their ``reason``."""

    def m(minutes: float) -> datetime:
        return t + timedelta(minutes=minutes)

    alice, bob = [
        await users.create_account(
            session, hasher=hasher, region=region, username=name, email=f"{name}@example.fr", password=None
        )
        for name in ("alice", "bob")
    ]

    def acct(uid: str, start: float, stop: float | None, **values: Any) -> AccountingSession:
        values.setdefault("nasipaddress", "192.0.2.1")
        values.setdefault("commune_id", commune_id)
        values.setdefault("site_id", site_id)
        return AccountingSession(
            acctuniqueid=uid, acctsessionid=f"sess-{uid}", acctstarttime=m(start),
            acctupdatetime=m(stop if stop is not None else start + 5),
            acctstoptime=m(stop) if stop is not None else None,
            acctsessiontime=int((stop - start) * 60) if stop is not None else None, **values,
        )  # fmt: skip

    def auth(reason: str, when: float, **values: Any) -> AuthRecord:
        values.setdefault("site_id", site_id)
        values.setdefault("username", "someone")
        return AuthRecord(reply="Access-Accept", authdate=m(when), method="pap", reason=reason, **values)

    session.add_all(
        [
            # IPv4 10.0.0.5
            acct("in-v4-straddles-start", -60, 30, framedipaddress="10.0.0.5", class_="sesame:c1"),
            acct("in-v4-open", 60, None, framedipaddress="10.0.0.5", class_="sesame:c2"),
            acct("out-v4-before", -180, -60, framedipaddress="10.0.0.5"),
            acct("out-v4-ends-at-start", -60, 0, framedipaddress="10.0.0.5"),
            acct("out-v4-starts-at-end", 120, 150, framedipaddress="10.0.0.5"),
            acct("in-v4-straddles-end", 100, 200, framedipaddress="10.0.0.5"),
            acct("out-v4-other-address", 10, 20, framedipaddress="10.0.0.50"),
            acct("in-v4-other-commune", 10, 20, framedipaddress="10.0.0.5", commune_id=other_commune_id),
            # IPv6: an address, a prefix the device chose its address in, a delegated prefix
            acct("in-v6-address", 10, 20, framedipv6address="2001:db8::7"),
            acct("in-v6-prefix", 10, 20, framedipv6prefix="2001:db8:1:2::/64"),
            acct("in-v6-delegated", 10, 20, delegatedipv6prefix="2001:db8:ff00::/56"),
            acct("out-v6-other-prefix", 10, 20, framedipv6prefix="2001:db8:1:3::/64"),
            # one MAC, as access points write it
            acct("in-mac-canonical", 5, 15, callingstationid="02-00-5E-10-20-30", device_mac=MAC),
            acct("in-mac-cisco", 25, 35, callingstationid="0200.5e10.2030"),
            acct("in-mac-bare", 45, 55, callingstationid="02005E102030"),
            acct(
                "out-mac-other", 45, 55, callingstationid="02-00-5E-10-20-31", device_mac="02:00:5e:10:20:31"
            ),
            acct("out-mac-later", 200, 210, callingstationid="02-00-5E-10-20-30", device_mac=MAC),
            # identities: alice's by account and by name, bob's (deleted below) under his pseudonym
            acct("in-alice-linked", 30, 40, username="anonymous@wifi.test.example", account_id=alice.id),
            acct("in-alice-named", 50, 60, username="Alice@WIFI.test.example"),
            acct("in-bob", 70, 80, username="bob", account_id=bob.id, framedipaddress="10.0.0.7"),
            acct("out-bob-later", 300, 310, username="bob", account_id=bob.id),
            # what an access point sent, to be neutralised in the CSV
            acct("in-hostile", 15, 25, framedipaddress="10.0.0.9", **HOSTILE),
            # decisions
            auth("v4-login", -61, class_="sesame:c1", callingstationid="02-00-5E-00-00-01"),
            auth("v4-other-class", 10, class_="sesame:c9"),
            auth("mac-refused", 4, username="someone", callingstationid="02-00-5e-10-20-30"),
            auth("mac-auth", 24, username="02005e102030"),
            auth("mac-outside", 130, username="someone", callingstationid="02-00-5e-10-20-30"),
            auth("alice-login", 29, username="alice", account_id=alice.id),
            auth("bob-login", 69, username="bob", account_id=bob.id),
        ]
    )
    await session.flush()
    pseudonym = await users.delete_account(session, box=box, account=bob, now=m(500))
    return Seeded(window=(t, m(120)), alice=alice.id, bob_pseudonym=pseudonym)
