"""The authentication policy: authorize → authenticate → post-auth, as small named steps.

Like FreeRADIUS's ``sites-available/default``: **authorize** reads the request, finds whose it
is and picks exactly one :class:`~radius.methods.Method`; **authenticate** runs that method;
**post-auth** checks the account's state, builds the reply from the site's policy and records
the decision. Each step returns an :class:`Outcome`; the first that is not ``OK`` decides.

Messages never reveal whether an account exists: an unknown user and a wrong password get the
same Reply-Message, and an unknown user still costs a (dummy) password verification. An
account's state (disabled, locked, unverified) is only told to someone who proved the credential.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from accounts.authlog import Decision as RecordedDecision
from accounts.bandwidth import bandwidth_attributes
from accounts.identity import canonical_mac
from accounts.passwords import is_legacy_hash
from accounts.sessions import devices_in_use
from accounts.tokens import looks_like_token
from accounts.vouchercodes import is_voucher_username, judge, normalize_code
from accounts.wiretext import is_clean
from radius import codec, metrics, passpoint
from radius.accounting import SessionClass
from radius.attempt import (
    MSG_BAD_CREDENTIALS,
    MSG_DAILY_TIME,
    MSG_DAILY_VOLUME,
    MSG_DISABLED,
    MSG_EAP,
    MSG_FOREIGN_REALM,
    MSG_LOCKED,
    MSG_NO_CREDENTIALS,
    MSG_TOO_MANY,
    MSG_TOO_MANY_DEVICES,
    MSG_UNKNOWN_DEVICE,
    MSG_UNVERIFIED,
    VOUCHER_MESSAGES,
    Attempt,
    Outcome,
    ReplyTexts,
    english,
)
from radius.codec import Code
from radius.core import Decision
from radius.eapstep import EapStep, eap_attributes, failure_for
from radius.events import Discard, RadiusRequest
from radius.methods import Method, chap_valid, mschapv1, mschapv2
from radius.ratelimit import FailureLimiter, Source
from radius.store import Store
from radius.verifycache import VerificationCache

log = logging.getLogger("sesame.radius.auth")


class PasswordVerifier(Protocol):
    """Checks a password against its stored hash (None: a dummy check, False), off the loop.
    ``source``: who asks, for a fair share of the verification queue; ``serial``: an identity
    whose verifications must run one at a time (:meth:`FailureLimiter.hot`)."""

    def __call__(
        self, password: str, password_hash: str | None, *, source: str = "", serial: str | None = None
    ) -> Awaitable[bool]: ...


class Pipeline:
    def __init__(
        self,
        *,
        realm: str,
        store: Store,
        verify_password: PasswordVerifier,
        classes: SessionClass,
        cui_key: bytes,
        limiter: FailureLimiter | None = None,
        verification_cache: VerificationCache | None = None,
        clock: Callable[[], float] = time.monotonic,
        eap: EapStep | None = None,
        session_info_url: str = "",
        texts: ReplyTexts = english,
    ) -> None:
        """``classes`` and ``cui_key`` are derived from the deployment's secret key, the same in
        every worker: a key of its own per worker would give a person another Chargeable-User-
        Identity in each, and a Class another worker's accounting cannot read. No default.

        ``session_info_url``: where a Passpoint access point sends the device a few minutes
        before Session-Timeout ends its session (HS20-Session-Information-URL; "": not sent)."""
        if len(cui_key) < 16:
            raise ValueError("the Chargeable-User-Identity key must be at least 16 octets")
        if not session_info_url.isascii() or len(session_info_url) > passpoint.MAX_URL:
            raise ValueError(f"the session information URL must be ASCII, at most {passpoint.MAX_URL} octets")
        self.session_info_url = session_info_url.encode()
        self.realm = realm
        self.store = store
        self.verify_password = verify_password
        self.limiter = limiter or FailureLimiter()
        self.cache = verification_cache or VerificationCache()
        self.classes = classes
        self.cui_key = cui_key
        self.clock = clock
        self.eap = eap
        self.texts = texts

    async def decide(self, request: RadiusRequest, now: datetime | None = None) -> Decision:
        attempt = Attempt(request=request, now=now or datetime.now(UTC))
        outcome = self.authorize(attempt)
        if outcome is Outcome.OK:
            outcome = await self.authenticate(attempt)
        if outcome is Outcome.CHALLENGE:  # a round of an EAP conversation: nothing decided yet
            return Decision(
                code=Code.ACCESS_CHALLENGE,
                raw=eap_attributes(attempt.eap_reply) + codec.tlv(codec.STATE, attempt.state),
            )
        if attempt.discard is not None:
            raise Discard(attempt.discard)
        attempt.passpoint = facts = passpoint.read(request.packet)
        # a refusal after the credential was proved speaks the account's language; before, the
        # region's: the language must not tell whether an identity exists
        proved = outcome is Outcome.OK
        if outcome is Outcome.OK:
            outcome = await self.post_auth(attempt)
        self.record(attempt, outcome)
        metrics.decision(attempt.recorded_method, "accept" if outcome is Outcome.OK else attempt.reason)
        if facts.hotspot20:
            metrics.passpoint(
                passpoint.release_label(facts.ap_release),
                passpoint.release_label(facts.device_release),
                passpoint.consortium_label(facts.roaming_consortium),
            )
        if log.isEnabledFor(logging.DEBUG):  # per-request logging only when asked for: it costs
            log.debug(
                "%s %s",
                "accept" if outcome is Outcome.OK else "reject",
                attempt.reason,
                extra={
                    "nas": request.client.name,
                    "nas_address": request.source[0],
                    "packet_id": request.packet.identifier,
                    "user": attempt.user_name[:64],
                    "method": attempt.recorded_method,
                },
            )
        if outcome is Outcome.OK:
            return Decision(
                class_=attempt.class_,
                code=Code.ACCESS_ACCEPT,
                attributes=tuple(attempt.reply),
                secret_attributes=tuple(attempt.secret_reply),
                raw=attempt.raw + eap_attributes(attempt.eap_reply),
            )
        eap = attempt.eap_reply
        if eap[:1] == b"\x03":  # post-auth overruled the EAP server's success: the peer hears a failure
            eap = failure_for(eap)
        language = attempt.account.locale if proved and attempt.account is not None else None
        reply: list[tuple[str, Any]] = [("Reply-Message", self.texts(attempt.message, language))]
        reply += attempt.reply
        return Decision(code=Code.ACCESS_REJECT, attributes=tuple(reply), raw=eap_attributes(eap))

    # -- authorize ---------------------------------------------------------------------------

    def authorize(self, attempt: Attempt) -> Outcome:
        """Read the identity and pick exactly one method."""
        packet = attempt.request.packet
        raw_name = packet.first(codec.USER_NAME)
        if raw_name is None:
            return attempt.reject("no_user_name", MSG_NO_CREDENTIALS)
        attempt.user_name = codec.as_text(raw_name, 253) or ""
        if not is_clean(raw_name):
            # NUL, control characters or invalid UTF-8: no account has such a name, and it must not
            # reach a query (PostgreSQL refuses NUL); recorded escaped
            return attempt.reject("bad_user_name", MSG_BAD_CREDENTIALS)
        if packet.first(codec.EAP_MESSAGE) is not None:
            if self.eap is None:
                return attempt.reject("eap_unsupported", MSG_EAP)
            # the outer identity routes (it may be anonymous: "@realm", "anonymous@realm"); the
            # inner identity, inside the tunnel, decides whose the credential is
            _user, _sep, realm = attempt.user_name.strip().rpartition("@")
            attempt.realm = realm.lower() if _sep else self.realm
            if attempt.realm != self.realm:
                return attempt.reject("foreign_realm", MSG_FOREIGN_REALM)
            attempt.method, attempt.method_label = Method.EAP, "eap"
            return Outcome.OK

        mac = canonical_mac(attempt.user_name)
        hidden = packet.first(codec.USER_PASSWORD)
        if mac is not None and hidden is not None:
            attempt.method, attempt.username = Method.MAC, mac
            return Outcome.OK

        user, _sep, realm = attempt.user_name.strip().rpartition("@")
        attempt.username = (user if _sep else realm).lower()
        attempt.realm = (realm if _sep else self.realm).lower()
        if attempt.realm != self.realm:
            return attempt.reject("foreign_realm", MSG_FOREIGN_REALM)

        if packet.vendor_attribute(codec.MICROSOFT, codec.MS_CHAP2_RESPONSE) is not None:
            attempt.method = Method.MSCHAPV2
        elif packet.vendor_attribute(codec.MICROSOFT, codec.MS_CHAP_RESPONSE) is not None:
            attempt.method = Method.MSCHAPV1
        elif packet.first(codec.CHAP_PASSWORD) is not None:
            attempt.method = Method.TOKEN_CHAP
        elif hidden is not None:
            clear = codec.decrypt_user_password(hidden, attempt.request.client.secret, packet.authenticator)
            if clear is None:
                return attempt.reject("bad_user_password", MSG_BAD_CREDENTIALS)
            attempt.password = clear
            text = clear.decode("utf-8", "replace")
            code = normalize_code(text)
            if code is not None and normalize_code(attempt.username) == code:
                attempt.method = Method.VOUCHER  # a guest's code, as user name and password
            else:
                attempt.method = Method.TOKEN if looks_like_token(text) else Method.PAP
        else:
            return attempt.reject("no_credentials", MSG_NO_CREDENTIALS)
        if attempt.method in (Method.MSCHAPV2, Method.MSCHAPV1):
            # Windows peers send DOMAIN\user and hash "user" only (RFC 2759 §8.2); as FreeRADIUS's
            # ntdomain realm does, the domain is not part of the account's name
            attempt.username = attempt.username.rpartition("\\")[2]
        return Outcome.OK

    # -- authenticate ------------------------------------------------------------------------

    async def authenticate(self, attempt: Attempt) -> Outcome:
        """Run the method picked. Failed-password limits (:mod:`radius.ratelimit`) apply where a
        password is checked — PAP (and a "token" that is not one), MS-CHAP — never to MAC
        authentication or to a live single-use token, which nobody can guess."""
        if attempt.method is Method.MAC:
            return await self.authenticate_mac(attempt)
        if attempt.method is Method.EAP:
            assert self.eap is not None
            return await self.eap.run(self, attempt)
        if attempt.method is Method.VOUCHER:  # guessing codes counts as failed passwords
            return await self.limited(
                attempt,
                self.identity(attempt),
                self.source(attempt),
                lambda a, _hot: self.authenticate_voucher(a),
            )
        if attempt.method is not Method.TOKEN:  # a token brings its account along
            attempt.account = await self.store.account(attempt.username)
        handler = {
            Method.PAP: self.authenticate_pap,
            Method.TOKEN: self.authenticate_token,
            Method.TOKEN_CHAP: self.authenticate_token_chap,
            Method.MSCHAPV2: self.authenticate_mschapv2,
            Method.MSCHAPV1: self.authenticate_mschapv1,
        }[attempt.method]
        if attempt.method not in (Method.MSCHAPV2, Method.MSCHAPV1):
            return await handler(attempt)
        return await self.limited(
            attempt, self.identity(attempt), self.source(attempt), lambda attempt, _hot: handler(attempt)
        )

    async def limited(
        self,
        attempt: Attempt,
        identity: str,
        source: Source,
        check: Callable[[Attempt, bool], Awaitable[Outcome]],
    ) -> Outcome:
        """``check`` a password, under the failed-password limits: a blocked source is refused
        unverified and not counted (see radius.ratelimit); the outcome is counted for the source.
        ``check`` is told whether the identity is hot (its verifications then run one at a time)."""
        verdict = await self.limiter.check(identity, source, self.clock())
        if verdict.block is not None:
            return attempt.reject(verdict.block.value, MSG_TOO_MANY)
        outcome = await check(attempt, verdict.hot)
        if outcome is Outcome.OK:
            if verdict.failures:  # else nothing to forgive, and no round trip to a shared store
                await self.limiter.succeeded(identity, source)
        else:
            await self.limiter.failed(identity, source, self.clock())
        return outcome

    @staticmethod
    def identity(attempt: Attempt) -> str:
        return f"{attempt.username}@{attempt.realm}"

    @staticmethod
    def source(attempt: Attempt) -> Source:
        """The access point and the device behind it (its Calling-Station-Id, canonical when
        it is a MAC), so that one device guessing does not block the others at that NAS."""
        calling = attempt.request.packet.first(codec.CALLING_STATION_ID)
        if not calling:
            return Source(attempt.request.client.name)
        text = calling.decode("utf-8", "replace")[:64]
        return Source(attempt.request.client.name, canonical_mac(text) or text)

    async def authenticate_pap(self, attempt: Attempt) -> Outcome:
        account = attempt.account
        password = attempt.password.decode("utf-8", "replace")
        identity, now = self.identity(attempt), self.clock()
        if account is not None and self.cache.hit(identity, password, account.password_hash, now):
            return Outcome.OK  # known good: accepted whatever the limits say
        source = self.source(attempt)

        async def verify(attempt: Attempt, hot: bool) -> Outcome:
            ok = await self.verify_password(
                password,
                account.password_hash if account else None,
                source=source.nas,
                serial=identity if hot else None,
            )
            if not ok or account is None:
                return attempt.reject("bad_password" if account else "unknown_user", MSG_BAD_CREDENTIALS)
            self.cache.remember(identity, password, account.password_hash, self.clock())
            if account.password_hash is not None and is_legacy_hash(account.password_hash):
                self.store.upgrade_password(
                    account_id=account.id, old_hash=account.password_hash, password=password
                )
            return Outcome.OK

        return await self.limited(attempt, identity, source, verify)

    async def authenticate_voucher(self, attempt: Attempt) -> Outcome:
        """A voucher's code as user name and password (a keyed digest looks it up: no argon2id).
        Whether it may connect here and now is post-auth's (:meth:`voucher_limits`)."""
        found = await self.store.voucher(attempt.password.decode("utf-8", "replace"))
        if found is None:
            return attempt.reject("unknown_voucher", MSG_BAD_CREDENTIALS)
        attempt.account, attempt.voucher = found
        return Outcome.OK

    async def authenticate_token(self, attempt: Attempt) -> Outcome:
        token = attempt.password.decode("utf-8", "replace")
        # bound to the access point the portal handed it to: refused at any other
        owner = await self.store.consume_token(
            username=attempt.username, token=token, nas_id=attempt.request.client.nas_id, now=attempt.now
        )
        if owner is not None:
            attempt.account = owner
            return Outcome.OK
        # not a live token of this user: it may be a password that happens to look like one
        attempt.method = Method.PAP
        attempt.account = await self.store.account(attempt.username)
        return await self.authenticate_pap(attempt)

    async def authenticate_token_chap(self, attempt: Attempt) -> Outcome:
        packet, account = attempt.request.packet, attempt.account
        chap = packet.first(codec.CHAP_PASSWORD) or b""
        challenge = packet.first(codec.CHAP_CHALLENGE) or packet.authenticator
        if account is None or len(chap) != 17:
            return attempt.reject("unknown_user" if account is None else "bad_chap", MSG_BAD_CREDENTIALS)
        used = await self.store.consume_token_matching(
            account_id=account.id,
            nas_id=attempt.request.client.nas_id,
            matches=lambda token: chap_valid(chap, token, challenge),
            now=attempt.now,
        )
        return Outcome.OK if used else attempt.reject("bad_token", MSG_BAD_CREDENTIALS)

    async def authenticate_mschapv2(self, attempt: Attempt) -> Outcome:
        packet, account = attempt.request.packet, attempt.account
        challenge = packet.vendor_attribute(codec.MICROSOFT, codec.MS_CHAP_CHALLENGE) or b""
        response = packet.vendor_attribute(codec.MICROSOFT, codec.MS_CHAP2_RESPONSE) or b""
        user_name = packet.first(codec.USER_NAME) or b""
        hashes = await self.store.nt_hashes(account_id=account.id) if account else []
        for _credential_id, nt_hash in hashes:
            result = mschapv2(nt_hash=nt_hash, user_name=user_name, challenge=challenge, response=response)
            if result is not None:
                attempt.reply.append(("MS-CHAP2-Success", result.success))
                attempt.secret_reply += [
                    ("MS-MPPE-Send-Key", result.mppe_send_key),
                    ("MS-MPPE-Recv-Key", result.mppe_recv_key),
                ]
                attempt.reply += [("MS-MPPE-Encryption-Policy", 1), ("MS-MPPE-Encryption-Types", 6)]
                return Outcome.OK
        ident = response[:1] or b"\x00"
        # RFC 2759 §6: E=691 authentication failure, R=0 no retry
        attempt.reply.append(("MS-CHAP-Error", ident + b"E=691 R=0 V=3"))
        return attempt.reject("bad_mschapv2" if account else "unknown_user", MSG_BAD_CREDENTIALS)

    async def authenticate_mschapv1(self, attempt: Attempt) -> Outcome:
        packet, account = attempt.request.packet, attempt.account
        challenge = packet.vendor_attribute(codec.MICROSOFT, codec.MS_CHAP_CHALLENGE) or b""
        response = packet.vendor_attribute(codec.MICROSOFT, codec.MS_CHAP_RESPONSE) or b""
        hashes = await self.store.nt_hashes(account_id=account.id) if account else []
        for _credential_id, nt_hash in hashes:
            result = mschapv1(nt_hash=nt_hash, challenge=challenge, response=response)
            if result is not None:
                attempt.secret_reply.append(("MS-CHAP-MPPE-Keys", result.mppe_keys))
                attempt.reply += [("MS-MPPE-Encryption-Policy", 1), ("MS-MPPE-Encryption-Types", 6)]
                return Outcome.OK
        ident = response[:1] or b"\x00"
        attempt.reply.append(("MS-CHAP-Error", ident + b"E=691 R=0"))  # RFC 2433 §A.2: authentication failure
        return attempt.reject("bad_mschap" if account else "unknown_user", MSG_BAD_CREDENTIALS)

    async def authenticate_mac(self, attempt: Attempt) -> Outcome:
        packet = attempt.request.packet
        calling = packet.first(codec.CALLING_STATION_ID)
        if calling is not None and canonical_mac(calling.decode("ascii", "replace")) != attempt.username:
            return attempt.reject("mac_mismatch", MSG_UNKNOWN_DEVICE)
        device = await self.store.device(attempt.username)
        if device is None or device.remembered_until is None or device.remembered_until <= attempt.now:
            return attempt.reject("unknown_device", MSG_UNKNOWN_DEVICE)
        attempt.account = device.account
        attempt.realm = self.realm
        return Outcome.OK

    # -- post-auth ---------------------------------------------------------------------------

    async def post_auth(self, attempt: Attempt) -> Outcome:
        account = attempt.account
        assert account is not None
        if account.status == "disabled":
            return attempt.reject("account_disabled", MSG_DISABLED)
        if account.status == "locked":
            return attempt.reject("account_locked", MSG_LOCKED)
        client = attempt.request.client
        policy = self.store.policy(commune_id=client.commune_id, site_id=client.site_id)
        session_timeout = policy.session_timeout or None
        octets_cap: int | None = None
        voucher = attempt.voucher
        if voucher is None and is_voucher_username(account.username):  # a voucher by a portal token
            voucher = attempt.voucher = await self.store.voucher_of(account.id)
            if voucher is None:
                return attempt.reject("unknown_voucher", MSG_BAD_CREDENTIALS)
        if voucher is not None:
            calling = attempt.request.packet.first(codec.CALLING_STATION_ID)
            this_device = canonical_mac(calling.decode("ascii", "replace")) if calling else None
            verdict = judge(
                voucher,
                now=attempt.now,
                commune_id=client.commune_id,
                site_id=client.site_id,
                devices_in_use=devices_in_use(
                    await self.store.open_devices(account.id), this_device=this_device
                ),
            )
            if verdict.refusal is not None:
                return attempt.reject(verdict.refusal, VOUCHER_MESSAGES[verdict.refusal])
            session_timeout = min(session_timeout or verdict.seconds_left, verdict.seconds_left)
            octets_cap = verdict.octets_left
        if not account.email_verified:
            # the grace connection of a new account: long enough to read the verification email
            grace = account.grace_until
            if grace is None or grace <= attempt.now:
                return attempt.reject("account_unverified", MSG_UNVERIFIED)
            left = max(1, int((grace - attempt.now).total_seconds()))
            session_timeout = min(session_timeout or left, left)
        reply = attempt.reply
        if policy.simultaneous_use:
            calling = attempt.request.packet.first(codec.CALLING_STATION_ID)
            this_device = canonical_mac(calling.decode("ascii", "replace")) if calling else None
            others = devices_in_use(await self.store.open_devices(account.id), this_device=this_device)
            if others >= policy.simultaneous_use:
                return attempt.reject("simultaneous_use", MSG_TOO_MANY_DEVICES)
        if policy.daily_time_limit or policy.daily_octets_limit:
            used = await self.store.usage_today(
                account_id=account.id, commune_id=client.commune_id, now=attempt.now
            )
            if policy.daily_time_limit:
                left = policy.daily_time_limit - used.seconds
                if left <= 0:
                    return attempt.reject("daily_time_limit", MSG_DAILY_TIME)
                session_timeout = min(session_timeout or left, left)
            if policy.daily_octets_limit:
                left = policy.daily_octets_limit - used.octets
                if left <= 0:
                    return attempt.reject("daily_octets_limit", MSG_DAILY_VOLUME)
                octets_cap = left if octets_cap is None else min(octets_cap, left)
        if octets_cap is not None:  # the volume left, as the access point counts it (both ways)
            reply.append(("ChilliSpot-Max-Total-Octets", octets_cap & 0xFFFFFFFF))
            if octets_cap >> 32:
                reply.append(("ChilliSpot-Max-Total-Gigawords", octets_cap >> 32))
        if session_timeout:
            reply.append(("Session-Timeout", session_timeout))
            if attempt.passpoint.hotspot20 and self.session_info_url:
                # hostapd warns the device this many minutes before the end, with the URL
                info = passpoint.session_information(self.session_info_url, session_timeout)
                reply.append(("HS20-Session-Information-URL", info))
        if policy.idle_timeout:
            reply.append(("Idle-Timeout", policy.idle_timeout))
        if policy.interim_interval:
            reply.append(("Acct-Interim-Interval", policy.interim_interval))
        reply += bandwidth_attributes(  # 0: no limit sent
            up_kbps=policy.bandwidth_up_kbps or None, down_kbps=policy.bandwidth_down_kbps or None
        )
        if attempt.request.packet.first(codec.CHARGEABLE_USER_IDENTITY) is not None:
            reply.append(
                ("Chargeable-User-Identity", self.chargeable_identity(account.id, client.partner_id))
            )
        if voucher is not None and voucher.first_used_at is None:
            await self.store.voucher_used(voucher, attempt.now)  # its duration starts now
        attempt.class_ = self.classes.make(account.id)
        attempt.reason = "accepted"
        return Outcome.OK

    def chargeable_identity(self, account_id: int, partner_id: int | None) -> bytes:
        """RFC 4372: a stable, opaque name of the account for whoever asked (a NAS sends the
        attribute with one NUL octet). Each partner gets its own, so partners cannot link a
        citizen's visits between them; nothing in it can be turned back into the account."""
        seen_by = b"local" if partner_id is None else b"partner:%d" % partner_id
        digest = hmac.new(self.cui_key, seen_by + b":%d" % account_id, hashlib.sha256).hexdigest()
        return digest[:32].encode()

    def record(self, attempt: Attempt, outcome: Outcome) -> None:
        packet, client, facts = attempt.request.packet, attempt.request.client, attempt.passpoint
        self.store.record(
            RecordedDecision(
                authdate=attempt.now,
                username=attempt.identity or attempt.user_name,  # EAP: the inner identity decides
                reply="Access-Accept" if outcome is Outcome.OK else "Access-Reject",
                method=attempt.recorded_method,
                reason=attempt.reason,
                nasipaddress=attempt.request.source[0],
                nas_id=client.nas_id,
                site_id=client.site_id,
                account_id=attempt.account.id if attempt.account else None,
                calledstationid=codec.as_text(packet.first(codec.CALLED_STATION_ID)),
                callingstationid=codec.as_text(packet.first(codec.CALLING_STATION_ID)),
                class_=attempt.class_.decode() if attempt.class_ else None,
                operator_name=facts.operator_name,
                venue=facts.venue,
                roaming_consortium=facts.roaming_consortium,
                hs20_ap_release=facts.ap_release,
                hs20_device_release=facts.device_release,
            )
        )
