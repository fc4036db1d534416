"""EAP through the protocol core and the pipeline, in memory (issue 15): a real TLS peer (pyOpenSSL
over memory BIOs, tests/radius/eap/peer.py) talks EAP-TTLS/PAP inside Access-Requests that an
access point signs; the pipeline answers Access-Challenges with State and Message-Authenticator,
checks the inner password with the same verifier, cache and failure limits as PAP, and ends with
EAP-Success and MS-MPPE keys equal to what the peer exports, or EAP-Failure."""

from __future__ import annotations

from typing import Any

import pytest
from pyrad import packet as pp

from radius import codec
from radius.core import ServerCore
from radius.eap.inner import TTLS_PAP
from radius.eap.packet import EapType
from radius.eap.server import EapServer
from radius.eap.tlsengine import TlsSettings
from radius.eap.ttls import Avp, encode_avps
from radius.eap.tunnels import Tunnels
from radius.eapstep import EapStep
from radius.pipeline import Pipeline
from radius.ratelimit import FailureLimiter
from tests.radius.conftest import SECRET, AccessPoint, decide
from tests.radius.eap.peer import Peer, client_context
from tests.radius.eap.pki import Pki
from tests.radius.pipelines import CLASSES, CUI_KEY, REALM, FakeStore, Verifier, account

PASSWORD = b"correct horse"


@pytest.fixture
def eap_pipeline(
    tls_settings: TlsSettings, store: FakeStore, verifier: Verifier, clock: list[float]
) -> Pipeline:
    server = EapServer(
        tls=tls_settings,
        inner=Tunnels(ttls=frozenset({TTLS_PAP})),
        realm=REALM,
        methods=(EapType.TTLS,),
        default_method=EapType.TTLS,
    )
    store.accounts["alice"] = account()
    return Pipeline(
        realm=REALM,
        store=store,
        verify_password=verifier,
        classes=CLASSES,
        cui_key=CUI_KEY,
        clock=lambda: clock[0],
        limiter=FailureLimiter(per_identity_device=2, per_device=100, per_nas=1000, per_identity=100),
        eap=EapStep(server),
    )


def ttls_peer(pki: Pki, password: bytes, user: bytes = b"alice@" + REALM.encode()) -> Peer:
    padded = password + b"\0" * (-len(password) % 16)
    return Peer(
        method=EapType.TTLS,
        context=client_context(str(pki.server_ca.file)),
        identity=b"anonymous@" + REALM.encode(),
        eager=encode_avps([Avp(code=1, data=user), Avp(code=2, data=padded)]),
    )


async def converse(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, peer: Peer, *, calling: str = "02-00-00-00-00-01"
) -> tuple[pp.Packet, int, bytes]:
    """Rounds until the pipeline decides: the final reply (verified as the AP would), the number
    of Access-Challenges (each carries State and is signed), and the last request's authenticator."""
    eap_message, state = peer.identity_response(), b""
    for identifier in range(1, 60):
        attributes: dict[str, Any] = {
            "User_Name": f"anonymous@{REALM}",
            "Calling_Station_Id": calling,
            "EAP_Message": [eap_message[i : i + 253] for i in range(0, len(eap_message), 253)],
        }
        if state:
            attributes["State"] = state
        request = ap.access_request(identifier=identifier, **attributes)
        _decision, reply = await decide(core, pipeline, request)
        received = b"".join(reply.get(codec.EAP_MESSAGE, []))
        if reply.code != pp.AccessChallenge:
            peer.answer(received)
            return reply, identifier - 1, request.authenticator
        assert reply[codec.MESSAGE_AUTHENTICATOR]  # every Access-Challenge is signed (RFC 3579 §3.2)
        state = reply[codec.STATE][0]
        eap_message = peer.answer(received)
    raise AssertionError("no decision in 60 rounds")


async def test_ttls_pap_ends_with_eap_success_and_the_keys_the_peer_derived(
    core: ServerCore, eap_pipeline: Pipeline, ap: AccessPoint, pki: Pki, store: FakeStore
) -> None:
    peer = ttls_peer(pki, PASSWORD)
    reply, challenges, authenticator = await converse(core, eap_pipeline, ap, peer)
    assert reply.code == pp.AccessAccept and peer.outcome == "success"
    assert challenges >= 3
    packet = codec.parse(reply.raw_packet)
    keys = [
        codec.salt_decrypt(packet.vendor_attribute(codec.MICROSOFT, kind) or b"", SECRET, authenticator)
        for kind in (codec.MS_MPPE_RECV_KEY, codec.MS_MPPE_SEND_KEY)
    ]
    msk = peer.expected_msk()  # the peer's own exporter, with the RFC's label written out
    assert keys == [msk[:32], msk[32:64]]
    assert store.records[-1].method == "eap-ttls/pap" and store.records[-1].reason == "accepted"
    assert store.records[-1].username == f"alice@{REALM}"  # the inner identity decides, and is recorded
    assert len(store.records) == 1  # the Access-Challenges left no decision record


async def test_a_wrong_password_ends_with_eap_failure_and_counts_for_the_limits(
    core: ServerCore, eap_pipeline: Pipeline, ap: AccessPoint, pki: Pki, store: FakeStore, verifier: Verifier
) -> None:
    for _ in range(2):
        reply, _, _ = await converse(core, eap_pipeline, ap, ttls_peer(pki, b"wrong"))
        assert reply.code == pp.AccessReject
        assert b"".join(reply[codec.EAP_MESSAGE])[:1] == b"\x04"  # EAP-Failure
        assert store.records[-1].reason == "bad_password"
    calls = verifier.calls
    # past the limit for this account at this device: refused unverified, even with the right password
    reply, _, _ = await converse(core, eap_pipeline, ap, ttls_peer(pki, PASSWORD))
    assert reply.code == pp.AccessReject and verifier.calls == calls
    assert store.records[-1].method == "eap-ttls/pap" and store.records[-1].reason == "rate_limited"
    # another device of the same account is not blocked
    other, _, _ = await converse(
        core, eap_pipeline, ap, ttls_peer(pki, PASSWORD), calling="02-00-00-00-00-02"
    )
    assert other.code == pp.AccessAccept


async def test_an_unknown_user_is_recorded_as_such_and_told_like_a_wrong_password(
    core: ServerCore, eap_pipeline: Pipeline, ap: AccessPoint, pki: Pki, store: FakeStore
) -> None:
    nobody = ttls_peer(pki, PASSWORD, b"nobody@" + REALM.encode())
    reply, _, _ = await converse(core, eap_pipeline, ap, nobody)
    assert reply.code == pp.AccessReject
    assert store.records[-1].reason == "unknown_user"


async def test_post_auth_overrules_the_eap_success_of_a_disabled_account(
    core: ServerCore, eap_pipeline: Pipeline, ap: AccessPoint, pki: Pki, store: FakeStore
) -> None:
    store.accounts["alice"] = account(status="disabled")
    peer = ttls_peer(pki, PASSWORD)
    reply, _, _ = await converse(core, eap_pipeline, ap, peer)
    assert reply.code == pp.AccessReject and peer.outcome == "failure"  # EAP-Failure, not the Success
    assert codec.MICROSOFT not in reply  # no keys
    assert store.records[-1].reason == "account_disabled"
