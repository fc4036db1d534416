"""Realm routing: exact, suffix and catch-all rules; what a request from a partner may ask for."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from federation.routing import RealmTable, Refusal, RouteKind, realm_of


@dataclass(frozen=True)
class Partner:
    id: int
    name: str
    accept_requests: bool = True
    transit: bool = False


LIGURIA = Partner(1, "liguria")
PIEMONTE = Partner(2, "piemonte", transit=True)
NATIONAL = Partner(3, "national")
CLOSED = Partner(4, "closed", accept_requests=False)

TABLE = RealmTable(
    home_realms=["wifi.sud.example"],
    partners=[
        ("liguria.example", LIGURIA),
        ("*.liguria.example", LIGURIA),
        ("*.comuni.piemonte.example", PIEMONTE),
        ("piemonte.example", PIEMONTE),
        ("*", NATIONAL),
    ],
)


@pytest.mark.parametrize(
    ("user_name", "kind", "partner"),
    [
        ("alice", RouteKind.LOCAL, None),
        ("aa:bb:cc:dd:ee:ff", RouteKind.LOCAL, None),
        ("alice@wifi.sud.example", RouteKind.LOCAL, None),
        ("Alice@WIFI.Sud.Example.", RouteKind.LOCAL, None),  # case-insensitive, trailing dot
        ("mario@liguria.example", RouteKind.PROXY, LIGURIA),
        ("mario@LIGURIA.example", RouteKind.PROXY, LIGURIA),
        ("mario@genova.liguria.example", RouteKind.PROXY, LIGURIA),  # suffix rule
        ("a@b@torino.comuni.piemonte.example", RouteKind.PROXY, PIEMONTE),  # the last @ counts
        ("x@comuni.piemonte.example", RouteKind.PROXY, NATIONAL),  # a suffix rule is not the bare name
        ("hans@uni-wien.example", RouteKind.PROXY, NATIONAL),  # the catch-all
    ],
)
def test_routes_from_our_access_points(user_name: str, kind: RouteKind, partner: Partner | None) -> None:
    route = TABLE.route(user_name)
    assert (route.kind, route.partner) == (kind, partner)


def test_without_a_catch_all_an_unknown_realm_is_refused() -> None:
    table = RealmTable(home_realms=["wifi.sud.example"], partners=[("liguria.example", LIGURIA)])
    route = table.route("hans@uni-wien.example")
    assert (route.kind, route.refusal, route.realm) == (
        RouteKind.REFUSE,
        Refusal.UNKNOWN_REALM,
        "uni-wien.example",
    )
    assert table.route("bad@-x..y").refusal is Refusal.BAD_REALM
    assert table.route("nobody@").refusal is Refusal.BAD_REALM


@pytest.mark.parametrize(
    ("user_name", "source", "kind", "refusal"),
    [
        ("alice@wifi.sud.example", LIGURIA, RouteKind.LOCAL, None),  # our citizen roaming in Liguria
        ("alice", LIGURIA, RouteKind.REFUSE, Refusal.NO_REALM),
        ("mario@liguria.example", LIGURIA, RouteKind.REFUSE, Refusal.LOOP),  # back where it came from
        ("gianni@piemonte.example", LIGURIA, RouteKind.REFUSE, Refusal.NO_TRANSIT),
        ("hans@uni-wien.example", LIGURIA, RouteKind.REFUSE, Refusal.NO_TRANSIT),
        ("mario@liguria.example", PIEMONTE, RouteKind.PROXY, None),  # a transit partner
        ("alice@wifi.sud.example", CLOSED, RouteKind.REFUSE, Refusal.PARTNER_NOT_ALLOWED),
    ],
)
def test_requests_from_partners_are_for_our_realms_unless_transit(
    user_name: str, source: Partner, kind: RouteKind, refusal: Refusal | None
) -> None:
    route = TABLE.route(user_name, from_partner=source)
    assert (route.kind, route.refusal) == (kind, refusal)


def test_realm_of() -> None:
    assert realm_of("user@Realm.Example.") == "realm.example"
    assert realm_of("user") is None
    assert realm_of("anonymous@") == ""
