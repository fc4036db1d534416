"""Realm routing: where a request for ``user@realm`` goes. No I/O.

Theory of operation. The realm is what follows the last ``@`` of the User-Name (for EAP, the
outer identity: the inner one stays in the tunnel). It is compared in lower case, without a
trailing dot. Rules, most specific first:

1. no realm (``alice``, a MAC address) or one of our realms → **local**;
2. a partner's exact realm (``liguria.example``);
3. a partner's suffix rule (``*.liguria.example``: any subdomain, longest suffix wins);
4. the catch-all ``*`` (an upstream federation proxy, national or European level);
5. otherwise → **refused** (``unknown_realm``).

A request that arrived *from* a partner is held to more: the partner must be allowed to send us
requests, it must name a realm (eduroam requires one), and a realm that is not ours is only
proxied onwards if that partner is a transit partner — never back to the partner it came from
(``loop``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class PartnerLike(Protocol):
    """What routing needs to know of a partner (``accounts.partners.PartnerConfig`` has it)."""

    @property
    def id(self) -> int: ...
    @property
    def accept_requests(self) -> bool: ...
    @property
    def transit(self) -> bool: ...


P = TypeVar("P", bound=PartnerLike)


class RouteKind(enum.StrEnum):
    LOCAL = "local"
    PROXY = "proxy"
    REFUSE = "refuse"


class Refusal(enum.StrEnum):
    """Why a request is refused before any credential is looked at; each is a metric label."""

    UNKNOWN_REALM = "unknown_realm"
    BAD_REALM = "bad_realm"
    NO_REALM = "no_realm"  # from a partner, a User-Name without a realm
    NO_TRANSIT = "no_transit"  # from a partner, for a realm that is not ours
    LOOP = "loop"  # would go back to where it came from, or carries our own Proxy-State
    PARTNER_NOT_ALLOWED = "partner_not_allowed"  # the partner may not send us requests


@dataclass(frozen=True, slots=True)
class Route(Generic[P]):
    kind: RouteKind
    realm: str = ""
    partner: P | None = None
    refusal: Refusal | None = None


def realm_of(user_name: str) -> str | None:
    """The realm of a User-Name in lower case without a trailing dot; None when there is none."""
    _user, at, realm = user_name.strip().rpartition("@")
    if not at:
        return None
    return realm.rstrip(".").lower()


def _valid_realm(realm: str) -> bool:
    if not realm or len(realm) > 253:
        return False
    return all(label and len(label) <= 63 and not label.startswith("-") for label in realm.split("."))


class RealmTable(Generic[P]):
    """Immutable routing table built from the partners' realm patterns; rebuilt when they change."""

    def __init__(self, *, home_realms: Iterable[str], partners: Iterable[tuple[str, P]]) -> None:
        self.home_realms = frozenset(r.lower().rstrip(".") for r in home_realms)
        self.exact: dict[str, P] = {}
        self.suffixes: dict[str, P] = {}  # "liguria.example" for the pattern "*.liguria.example"
        self.default: P | None = None
        for pattern, partner in partners:
            pattern = pattern.lower()
            if pattern == "*":
                self.default = partner
            elif pattern.startswith("*."):
                self.suffixes[pattern[2:]] = partner
            else:
                self.exact[pattern] = partner

    def partner_for(self, realm: str) -> P | None:
        found = self.exact.get(realm)
        if found is not None:
            return found
        rest = realm
        while "." in rest:  # longest suffix first: a.b.c → b.c → c
            rest = rest.partition(".")[2]
            found = self.suffixes.get(rest)
            if found is not None:
                return found
        return self.default

    def route(self, user_name: str, *, from_partner: P | None = None) -> Route[P]:
        realm = realm_of(user_name)
        if from_partner is not None and not from_partner.accept_requests:
            return Route(RouteKind.REFUSE, realm or "", refusal=Refusal.PARTNER_NOT_ALLOWED)
        if realm is None:
            if from_partner is not None:
                return Route(RouteKind.REFUSE, refusal=Refusal.NO_REALM)
            return Route(RouteKind.LOCAL)
        if realm in self.home_realms:
            return Route(RouteKind.LOCAL, realm)
        if not _valid_realm(realm):
            return Route(RouteKind.REFUSE, realm, refusal=Refusal.BAD_REALM)
        partner = self.partner_for(realm)
        if from_partner is not None:
            if partner is not None and partner.id == from_partner.id:
                return Route(RouteKind.REFUSE, realm, refusal=Refusal.LOOP)
            if not from_partner.transit:
                return Route(RouteKind.REFUSE, realm, refusal=Refusal.NO_TRANSIT)
        if partner is None:
            return Route(RouteKind.REFUSE, realm, refusal=Refusal.UNKNOWN_REALM)
        return Route(RouteKind.PROXY, realm, partner=partner)
