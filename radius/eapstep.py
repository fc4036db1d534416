"""The pipeline's EAP step: drives the sans-I/O EAP server (:mod:`radius.eap`) through one
Access-Request, answering what it needs from the store, under the same limits as PAP and MS-CHAP.

One Access-Request is one round of a conversation. The EAP server answers a round with an
Access-Challenge (the conversation goes on), or ends it: accepted (the inner identity names the
account; post-auth then applies the account's state and the site's policy as for any method, and
the reply carries EAP-Success and the MS-MPPE keys), refused (EAP-Failure), or discarded
(unanswered: the access point retries). What the conversation needs on the way — a password
verified, an account's NT hashes, a certificate's owner — is fetched here:

* a password (EAP-TTLS/PAP) goes through the verification cache and the failed-password limits
  exactly as PAP's (:meth:`Pipeline.authenticate_pap`'s rules), with the inner identity;
* NT hashes (MS-CHAPv2 inside PEAP or TTLS) are counted by the limits when the conversation
  ends refused for a wrong response, as MS-CHAPv2's are;
* a certificate's owner is read from the database every time (a revoked device is refused on
  its next handshake, in every worker).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from accounts.passwords import is_legacy_hash
from radius import codec, metrics
from radius.attempt import MSG_BAD_CREDENTIALS, MSG_TOO_MANY, Attempt, Outcome
from radius.eap import steps
from radius.eap.needs import NeedCertificate, NeedNtHashes, NeedPassword
from radius.eap.server import EapServer
from radius.events import DropReason
from radius.ratelimit import Source

log = logging.getLogger("sesame.radius.eap")

if TYPE_CHECKING:  # the pipeline runs this step; this step reads the pipeline's parts
    from radius.pipeline import Pipeline

#: reasons of a refused conversation that count as a wrong credential for the failure limits
WRONG_CREDENTIAL = frozenset({"bad_password", "bad_mschapv2", "unknown_user"})


def eap_attributes(message: bytes) -> bytes:
    """EAP-Message attributes of one EAP packet, 253 octets each (RFC 3579 §3.1)."""
    return b"".join(codec.tlv(codec.EAP_MESSAGE, message[i : i + 253]) for i in range(0, len(message), 253))


def failure_for(message: bytes) -> bytes:
    """The EAP-Failure replacing an EAP-Success that post-auth overruled (same identifier)."""
    return bytes((4, message[1] if len(message) > 1 else 0, 0, 4))


class EapStep:
    def __init__(self, server: EapServer) -> None:
        self.server = server
        self._logged: set[type[BaseException]] = set()
        self._next_expiry = 0.0
        self._evicted = 0  # the server's eviction count already added to the metric

    async def run(self, pipeline: Pipeline, attempt: Attempt) -> Outcome:
        packet, client = attempt.request.packet, attempt.request.client
        now = pipeline.clock()
        if now >= self._next_expiry:  # conversations past their deadline leave, with their TLS state
            self._next_expiry = now + 1.0
            self.server.expire(now)
            metrics.EAP_CONVERSATIONS.set(self.server.conversations)
        mtu = packet.first(codec.FRAMED_MTU)
        step = self.server.receive(
            eap_message=b"".join(packet.all(codec.EAP_MESSAGE)),
            state=packet.first(codec.STATE),
            client=client.name,
            outer_name=attempt.user_name,
            framed_mtu=int.from_bytes(mtu, "big") if mtu is not None and len(mtu) == 4 else None,
            now=pipeline.clock(),
        )
        if self.server.evicted != self._evicted:  # a full table made room for this one
            metrics.EAP_EVICTED.inc(self.server.evicted - self._evicted)
            self._evicted = self.server.evicted
        blocked: str | None = None
        source = pipeline.source(attempt)
        while isinstance(step, steps.AnswerNeeded):
            need = step.need
            if isinstance(need, NeedPassword):
                answer: object
                answer, blocked = await self._password(pipeline, attempt, need, source)
            elif isinstance(need, NeedNtHashes):
                found = (await pipeline.limiter.check(need.identity, source, pipeline.clock())).block
                if found is not None:
                    blocked, answer = found.value, []
                else:
                    attempt.identity = need.identity
                    account = attempt.account = await pipeline.store.account(_username(need.identity))
                    hashes = await pipeline.store.nt_hashes(account_id=account.id) if account else []
                    answer = [nt_hash for _id, nt_hash in hashes]
            else:
                answer = await self._certificate(pipeline, attempt, need)
            step = self.server.supply(step, answer, now=pipeline.clock())

        if isinstance(step, steps.Challenge):
            attempt.eap_reply, attempt.state = step.eap_message, step.state
            return Outcome.CHALLENGE
        if isinstance(step, steps.Discarded):
            metrics.eap_discarded(step.reason)
            attempt.discard = DropReason.EAP_DISCARDED
            return Outcome.REJECT
        attempt.eap_reply = step.eap_message
        attempt.method_label = step.method or attempt.method_label
        if isinstance(step, steps.Refused):
            if step.error is not None and type(step.error) not in self._logged:
                # our own bug (or an inner method's): once per kind with its traceback; counted always
                self._logged.add(type(step.error))
                log.error("eap: a conversation failed on our side", exc_info=step.error)
            elif step.detail and log.isEnabledFor(logging.DEBUG):  # the peer's fault: counted by reason
                log.debug("eap: refused (%s): %s", step.reason, step.detail, extra={"nas": client.name})
            identity = step.identity or attempt.identity
            if identity and step.reason in WRONG_CREDENTIAL and blocked is None:
                await pipeline.limiter.failed(identity, source, pipeline.clock())
            if blocked is not None:
                return attempt.reject(blocked, MSG_TOO_MANY)
            reason = step.reason
            if reason == "bad_password" and attempt.identity and attempt.account is None:
                reason = "unknown_user"  # the inner method only heard "no"; the record says why, as PAP's
            return attempt.reject(reason, MSG_BAD_CREDENTIALS)
        # accepted: the inner identity (or the certificate's owner) names the account
        attempt.identity = step.identity
        attempt.username = _username(step.identity)
        attempt.account = await pipeline.store.account(attempt.username)
        if attempt.account is None:  # deleted meanwhile
            attempt.eap_reply = failure_for(step.eap_message)
            return attempt.reject("unknown_user", MSG_BAD_CREDENTIALS)
        await pipeline.limiter.succeeded(step.identity, source)
        attempt.secret_reply += [
            ("MS-MPPE-Recv-Key", step.msk[:32]),  # RFC 5216 §2.3, as FreeRADIUS sends them
            ("MS-MPPE-Send-Key", step.msk[32:64]),
        ]
        return Outcome.OK

    async def _password(
        self, pipeline: Pipeline, attempt: Attempt, need: NeedPassword, source: Source
    ) -> tuple[bool, str | None]:
        """(the password is the account's, why it was refused unverified)."""
        identity, now = need.identity, pipeline.clock()
        attempt.identity = identity
        account = attempt.account = await pipeline.store.account(_username(identity))
        if account is not None and pipeline.cache.hit(identity, need.password, account.password_hash, now):
            return True, None  # known good: accepted whatever the limits say
        verdict = await pipeline.limiter.check(identity, source, now)
        if verdict.block is not None:
            return False, verdict.block.value
        ok = await pipeline.verify_password(
            need.password,
            account.password_hash if account else None,
            source=source.nas,
            serial=identity if verdict.hot else None,
        )
        if ok and account is not None:
            pipeline.cache.remember(identity, need.password, account.password_hash, pipeline.clock())
            if account.password_hash is not None and is_legacy_hash(account.password_hash):
                pipeline.store.upgrade_password(
                    account_id=account.id, old_hash=account.password_hash, password=need.password
                )
            return True, None
        return False, None

    async def _certificate(self, pipeline: Pipeline, attempt: Attempt, need: NeedCertificate) -> str | None:
        owner = await pipeline.store.certificate_owner(
            issuer=need.issuer, serial=need.serial, now=attempt.now
        )
        return None if owner is None else f"{owner}@{pipeline.realm}"  # the owner's username


def _username(identity: str) -> str:
    return identity.rpartition("@")[0] or identity
