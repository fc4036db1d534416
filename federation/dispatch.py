"""The authentication port's first step when federation is on: local, proxied, or refused.

Routing happens before the local pipeline, as FreeRADIUS's ``suffix`` module does in
``authorize``: a request for one of our realms (or none) goes to the pipeline; one for a partner's
realm is proxied (:class:`federation.service.Federation`); anything else is refused with a
Reply-Message that says why. Requests that arrive *from* a partner are routed with that partner
in mind (:meth:`federation.routing.RealmTable.route`): ours only, unless it is a transit partner.

Every proxied or refused request is recorded like a local decision (``radpostauth``, method
``proxy``), and an F-Ticks line is logged for every federated authentication: our visitors
(proxied out) and our citizens roaming at a partner (proxied in).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from accounts.authlog import Decision as RecordedDecision
from accounts.partners import PartnerConfig
from federation import metrics
from federation.fticks import FTicks
from federation.proxy import Refused
from federation.relay import LocalLimits
from federation.routing import Refusal, RouteKind
from federation.service import Federation
from radius import codec, passpoint
from radius.attempt import ReplyTexts, english
from radius.clients import Client
from radius.codec import Code
from radius.core import Decision
from radius.events import Discard, DropReason, RadiusRequest
from radius.server import Later

log = logging.getLogger("sesame.federation")

Handler = Callable[[RadiusRequest, datetime], Awaitable[Decision]]


def _(message: str) -> str:
    """Marks a Reply-Message for extraction (babel.cfg); the dispatcher's ``texts`` translate it."""
    return message


#: the Reply-Message of each refusal, in English (sent in the region's first language: nothing of
#: an account is known at this point)
MESSAGES = {
    Refusal.UNKNOWN_REALM: _("This network does not serve that realm"),
    Refusal.BAD_REALM: _("This network does not serve that realm"),
    Refusal.NO_REALM: _("A realm is needed (user@realm)"),
    Refusal.NO_TRANSIT: _("This network only authenticates its own realms"),
    Refusal.LOOP: _("Routing loop between federation proxies"),
    Refusal.PARTNER_NOT_ALLOWED: _("This network does not accept requests from this partner"),
}


class Dispatcher:
    def __init__(
        self,
        *,
        federation: Federation,
        local: Handler,
        limits_for: Callable[[Client], LocalLimits],
        record: Callable[[RecordedDecision], None],
        fticks: FTicks | None,
        operator_name: str,
        texts: ReplyTexts = english,
    ) -> None:
        self.federation = federation
        self.local = local
        self.limits_for = limits_for
        self.record = record
        self.fticks = fticks
        self.operator_name = operator_name
        self.texts = texts

    async def __call__(self, request: RadiusRequest, now: datetime) -> Decision | Later:
        client = request.client
        raw_name = request.packet.first(codec.USER_NAME)
        from_partner = self.federation.partner(client.partner_id)
        if client.partner_id is not None and from_partner is None:  # removed since it connected
            return self._refuse(request, now, "", Refusal.PARTNER_NOT_ALLOWED)
        if raw_name is None and from_partner is None:
            return await self.local(request, now)  # the pipeline rejects it (no User-Name)
        user_name = (raw_name or b"").decode("utf-8", "replace")
        route = self.federation.table.route(user_name, from_partner=from_partner)
        if route.kind is RouteKind.LOCAL:
            decision = await self.local(request, now)
            if from_partner is not None:
                self._ticks(
                    request, route.realm or self.federation.home_realm, decision, visiting=from_partner
                )
            return decision
        if route.kind is RouteKind.REFUSE:
            assert route.refusal is not None
            return self._refuse(request, now, user_name, route.refusal)
        partner = route.partner
        assert partner is not None
        limits = self.limits_for(client) if from_partner is None else LocalLimits()
        try:
            answer = self.federation.forward(request, partner, limits)
        except Refused as exc:
            return self._not_forwarded(request, now, user_name, partner, exc)
        return Later(self._relayed(request, now, user_name, route.realm, partner, answer))

    async def _relayed(
        self,
        request: RadiusRequest,
        now: datetime,
        user_name: str,
        realm: str,
        partner: PartnerConfig,
        answer: Awaitable[Decision],
    ) -> Decision:
        try:
            decision = await answer
        except Refused as exc:
            return self._not_forwarded(request, now, user_name, partner, exc)
        result = {Code.ACCESS_ACCEPT: "accept", Code.ACCESS_REJECT: "reject"}.get(decision.code, "challenge")
        metrics.count(metrics.PROXIED, partner.name, result)
        if result != "challenge":
            reply = _reply_name(decision.code)
            self._record(request, now, reply=reply, reason=f"proxied:{partner.name}")
            self._ticks(request, realm, decision, visiting=None)
        return decision

    def _not_forwarded(
        self, request: RadiusRequest, now: datetime, user_name: str, partner: PartnerConfig, exc: Refused
    ) -> Decision:
        metrics.count(metrics.PROXIED, partner.name, exc.reason)
        if exc.reason == "loop":
            return self._refuse(request, now, user_name, Refusal.LOOP)
        self._record(request, now, reply="No-Reply", reason=f"proxy_{exc.reason}")
        # unanswered: the access point retries, or fails over to another server of ours
        raise Discard(DropReason.PROXY_FAILED) from None

    def _refuse(self, request: RadiusRequest, now: datetime, user_name: str, refusal: Refusal) -> Decision:
        metrics.count(metrics.REFUSED, refusal.value)
        self._record(request, now, reply="Access-Reject", reason=refusal.value)
        message = self.texts(MESSAGES[refusal], None)
        return Decision(code=Code.ACCESS_REJECT, attributes=(("Reply-Message", message),))

    def _record(self, request: RadiusRequest, now: datetime, *, reply: str, reason: str) -> None:
        packet, client = request.packet, request.client
        facts = passpoint.read(packet)  # a visitor at one of our Passpoint hotspots, or one of ours away
        self.record(
            RecordedDecision(
                authdate=now,
                username=codec.as_text(packet.first(codec.USER_NAME), 253) or "",
                reply=reply,
                method="proxy",
                reason=reason[:64],
                nasipaddress=request.source[0],
                nas_id=client.nas_id,
                site_id=client.site_id,
                calledstationid=codec.as_text(packet.first(codec.CALLED_STATION_ID)),
                callingstationid=codec.as_text(packet.first(codec.CALLING_STATION_ID)),
                operator_name=facts.operator_name,
                venue=facts.venue,
                roaming_consortium=facts.roaming_consortium,
                hs20_ap_release=facts.ap_release,
                hs20_device_release=facts.device_release,
            )
        )

    def _ticks(
        self, request: RadiusRequest, realm: str, decision: Decision, *, visiting: PartnerConfig | None
    ) -> None:
        if self.fticks is None or decision.code == Code.ACCESS_CHALLENGE or not self.fticks.enabled():
            return
        packet = request.packet
        if visiting is None:
            institution = self.operator_name  # a visitor at one of our hotspots
        else:  # one of ours at a partner's: the partner's Operator-Name (RFC 5580), else its name
            operator = packet.first(codec.OPERATOR_NAME)
            institution = codec.as_text(operator[1:], 253) or "" if operator else visiting.name
        line = self.fticks.line(
            realm=realm,
            visited_institution=institution,
            calling_station_id=codec.as_text(packet.first(codec.CALLING_STATION_ID)),
            ok=decision.code == Code.ACCESS_ACCEPT,
            visited_country=None if visiting is None else "",
        )
        self.fticks.record(line)


def _reply_name(code: int) -> str:
    return "Access-Accept" if code == Code.ACCESS_ACCEPT else "Access-Reject"


class AccountingForwarder:
    """The accounting port's step when federation is on: visitors' accounting is recorded and
    answered here as always (it stays with the visited network); for a partner that asked for
    it, a copy then goes to its accounting server. The Accounting-Response never waits for it."""

    def __init__(self, *, federation: Federation, local: Handler) -> None:
        self.federation = federation
        self.local = local

    async def __call__(self, request: RadiusRequest, now: datetime) -> Decision | Later:
        decision = await self.local(request, now)  # committed: the answer is owed whatever follows
        if request.client.partner_id is not None:
            return decision  # a partner's own accounting of our users: never sent back out
        raw_name = request.packet.first(codec.USER_NAME)
        if raw_name is None:
            return decision
        route = self.federation.table.route(raw_name.decode("utf-8", "replace"))
        partner = route.partner
        if route.kind is RouteKind.PROXY and partner is not None and partner.forward_accounting:
            try:
                self.federation.forward_accounting(request, partner)
            except Refused as exc:
                metrics.ACCOUNTING_FORWARDED.labels(partner.name, exc.reason).inc()
        return decision
