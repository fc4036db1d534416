"""Hostile EAP at the RADIUS level against a real ``sesame serve`` terminating EAP (issue 15), with
two worker processes: Access-Requests signed with a real access point's secret whose EAP-Message
or State is built to hurt. Each is answered with an Access-Reject (EAP-Failure) or left unanswered,
as radius/eap/server.py designs it, and counted in /metrics; no worker dies, nothing is logged as
our own error, and afterwards PAP and EAP (eapol_test) are served as before.

The rounds are sent by :mod:`tests.support.eapnas` (an access point, and an EAP-TTLS/PAP supplicant
that can be held half-way, replayed or interleaved); two access points: 127.0.0.1 and 127.0.0.2.
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from radius import codec
from radius.codec import Code
from radius.workerroute import make_state
from tests.interop.conftest import PASSWORD, REALM, SECRET, Server, need_tool
from tests.interop.peers import eapol_test
from tests.interop.test_eap import SERVER_NAME, Eap, launch_eap, succeeded
from tests.support.eapnas import Nas, Reply, Supplicant

pytestmark = pytest.mark.slow

OTHER_SECRET = "other-ap-secret-456"
OTHER_AP = "127.0.0.2"
DEADLINE = 5.0  # SESAME_EAP_DEADLINE: its minimum, so that an abandoned conversation expires soon
EAP_FAILURE = re.compile(rb"\x04.\x00\x04", re.DOTALL)


@dataclass
class Served:
    eap: Eap

    @property
    def sesame(self) -> Server:
        return self.eap.sesame

    def nas(self, *, other: bool = False) -> Nas:
        if other:
            return Nas(self.sesame.auth_port, OTHER_SECRET, address=OTHER_AP)
        return Nas(self.sesame.auth_port, SECRET)

    def supplicant(
        self, nas: Nas, *, outer: str = "", fragment_size: int = 1000, split: int = 253
    ) -> Supplicant:
        """alice's device behind ``nas`` (EAP-TTLS/PAP); ``outer``: its anonymous identity."""
        return Supplicant(
            nas=nas,
            identity=f"alice@{REALM}",
            password=PASSWORD,
            ca_file=str(self.eap.pki / "ca.pem"),
            outer=outer,
            fragment_size=fragment_size,
            split=split,
        )

    def metric(self, name: str, **labels: str) -> float:
        """A counter (or gauge) from the metrics listener, summed over the workers."""
        text = httpx.get(f"http://127.0.0.1:{self.sesame.env['SESAME_METRICS_PORT']}/metrics", timeout=5).text
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        total = 0.0
        for found in re.finditer(rf"^{name}(?:\{{([^}}]*)\}})? (\S+)$", text, re.MULTILINE):
            have = ",".join(sorted((found.group(1) or "").split(",")))
            if not labels or have == wanted:
                total += float(found.group(2))
        return total

    def discarded(self, reason: str) -> float:
        return self.metric("sesame_eap_discarded_total", reason=reason)

    def decisions(self, user_name: str) -> list[tuple[str, str, str]]:
        """(reply, method, reason) of the records whose username is ``user_name``, oldest first."""
        deadline = time.monotonic() + 5
        while True:
            with sqlite3.connect(self.eap.database) as db:
                rows = db.execute(
                    "SELECT reply, method, reason FROM radpostauth WHERE username = ? ORDER BY id",
                    (user_name,),
                ).fetchall()
            if rows or time.monotonic() > deadline:
                return [(r[0], r[1], r[2]) for r in rows]
            time.sleep(0.1)

    def still_serving(self) -> None:
        """PAP and EAP (eapol_test, a real supplicant) are answered; no error of ours was logged."""
        assert "Received Access-Accept" in self.sesame.radtest("alice", PASSWORD)
        out = eapol_test(
            self.sesame.workdir,
            self.sesame.auth_port,
            SECRET,
            identity=f"alice@{REALM}",
            password=PASSWORD,
            method="TTLS",
            ca_cert=self.eap.pki / "ca.pem",
            server_name=SERVER_NAME,
        )
        assert succeeded(out), out[-3000:]
        log = self.sesame.log.read_text()
        assert "Traceback" not in log and "eap_internal_error" not in log, log[-5000:]
        assert self.metric("sesame_radius_drops_total", reason="internal_error") == 0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    need_tool("eapol_test")
    need_tool("radtest")
    deployment = launch_eap(
        tmp_path_factory.mktemp("hostile-eap"),
        SESAME_RADIUS_WORKERS="2",
        SESAME_EAP_DEADLINE=str(DEADLINE),
    )
    srv = deployment.sesame
    try:
        srv.cli("nas", "add", "other-ap", "--ip", OTHER_AP, "--secret", OTHER_SECRET, "--site", "Médiathèque")
        srv.cli("user", "add", "alice", "--email", "alice@example.fr", "--password", PASSWORD)
        served = Served(eap=deployment)
        with served.nas(other=True) as other:  # the second access point is loaded (polled every 2 s)
            deadline = time.monotonic() + 15
            while other.ask(other.request(user_name=b"probe"), timeout=0.5) is None:  # rejected once known
                assert time.monotonic() < deadline, "the second access point was not loaded"
        yield served
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def response(identifier: int, type_: int, data: bytes = b"", *, length: int | None = None) -> bytes:
    """An EAP-Response, its Length field as given (a lie) or right."""
    body = bytes((type_,)) + data
    return struct.pack("!BBH", 2, identifier, 4 + len(body) if length is None else length) + body


def proposed(reply: Reply | None) -> tuple[int, int]:
    """(Identifier, method) of the EAP-Request an Access-Challenge carries."""
    assert reply is not None and reply.code == Code.ACCESS_CHALLENGE, reply
    return reply.eap[1], reply.eap[4]


# -- malformed EAP-Message -------------------------------------------------------------------------


def test_malformed_eap_messages_opening_a_conversation_are_dropped_and_counted(served: Served) -> None:
    identity = response(0, 1, b"x@" + REALM.encode())
    hostile = {
        "one octet": b"\x02",
        "a truncated header": b"\x02\x00\x00",
        "a Response without a Type": b"\x02\x00\x00\x04",
        "a Length beyond the data": response(0, 1, b"x@" + REALM.encode(), length=len(identity) + 10),
        "a Length short of the data": response(0, 1, b"x@" + REALM.encode(), length=len(identity) - 3),
        "the largest Length": response(0, 1, b"x", length=0xFFFF),
        "an unknown Code": b"\x09\x00\x00\x05\x01",
        "Success with data": b"\x03\x00\x00\x05\x00",
    }
    not_responses = {"a Request from the peer": b"\x01\x00\x00\x05\x01", "a Success": b"\x03\x00\x00\x04"}
    before = {reason: served.discarded(reason) for reason in ("eap_malformed", "eap_not_response")}
    drops = served.metric("sesame_radius_drops_total", reason="eap_discarded")
    with served.nas() as nas:
        datagrams = [
            nas.request(user_name=f"hostile-{n}@{REALM}".encode(), eap=message)
            for n, message in enumerate([*hostile.values(), *not_responses.values()])
        ]
        replies = nas.ask_all(datagrams, timeout=1.5)
    assert replies == [None] * len(datagrams)  # never answered: the NAS may retry, nothing is held
    assert served.discarded("eap_malformed") == before["eap_malformed"] + len(hostile)
    assert served.discarded("eap_not_response") == before["eap_not_response"] + len(not_responses)
    assert served.metric("sesame_radius_drops_total", reason="eap_discarded") == drops + len(datagrams)
    served.still_serving()


def test_an_eap_message_without_message_authenticator_is_dropped(served: Served) -> None:
    before = served.metric("sesame_radius_drops_total", reason="missing_message_authenticator")
    with served.nas() as nas:
        unsigned = nas.request(user_name=f"x@{REALM}".encode(), eap=response(0, 1, b"x"), sign=False)
        assert nas.ask(unsigned, timeout=1.0) is None
    after = served.metric("sesame_radius_drops_total", reason="missing_message_authenticator")
    assert after == before + 1  # RFC 3579 §3.2
    served.still_serving()


def test_malformed_eap_in_a_conversation_ends_it_with_a_reject(served: Served) -> None:
    outer = f"malformed{secrets.token_hex(3)}@{REALM}"
    with served.nas() as nas:
        for n, lie in enumerate((+7, -2)):
            supplicant = served.supplicant(nas, outer=outer)
            identifier, _method = proposed(supplicant.start())
            before = served.metric("sesame_radius_decisions_total", method="peap", result="eap_malformed")
            nak = response(identifier, 3, b"\x15", length=4 + 2 + lie)  # a Nak asking for TTLS, lying
            datagram = nas.request(user_name=supplicant.user_name, eap=nak, state=supplicant.state)
            reply = nas.ask(datagram)
            assert reply is not None and reply.code == Code.ACCESS_REJECT, (n, reply)
            assert EAP_FAILURE.fullmatch(reply.eap) and reply.eap[1] == identifier
            assert (
                served.metric("sesame_radius_decisions_total", method="peap", result="eap_malformed")
                == before + 1
            )
            # the conversation is over: its State opens nothing any more
            unknown = served.discarded("eap_unknown_state")
            again = nas.request(
                user_name=supplicant.user_name, eap=response(identifier, 3, b"\x15"), state=supplicant.state
            )
            assert nas.ask(again, timeout=1.0) is None
            assert served.discarded("eap_unknown_state") == unknown + 1
    assert served.decisions(outer) == [("Access-Reject", "peap", "eap_malformed")] * 2
    served.still_serving()


def test_eap_message_split_in_odd_pieces_is_joined(served: Served) -> None:
    """RFC 3579 §3.1: the EAP-Message attributes of a request, joined, are the packet, whatever their
    sizes: 1-octet pieces, 7-octet ones, an empty one (EAP-Start)."""
    with served.nas() as nas:
        identity = response(0, 1, f"anonymous@{REALM}".encode())
        reply = nas.ask(nas.request(user_name=f"anonymous@{REALM}".encode(), eap=identity, split=1))
        assert proposed(reply)[1] == 25  # PEAP proposed
        start = nas.ask(nas.request(user_name=f"anonymous@{REALM}".encode(), eap=b""))
        assert start is not None and start.code == Code.ACCESS_CHALLENGE
        assert start.eap[4] == 1  # EAP-Start answered with EAP-Request/Identity
        supplicant = served.supplicant(nas, split=7)
        done = supplicant.run()
        assert done is not None and done.code == Code.ACCESS_ACCEPT, done
        assert supplicant.peer.outcome == "success" and supplicant.msk_matches(done, supplicant.sent[-1])
    served.still_serving()


def test_tls_lengths_that_lie_or_would_take_memory_are_refused(served: Served) -> None:
    """RFC 5216 §2.1.5 framing: a TLS Message Length over 64 KiB (up to 4 GiB), one that does not
    match the data, and fragments adding up past their announced length end the conversation."""
    cases = {
        "4 GiB announced": struct.pack("!BI", 0xC0, 0xFFFFFFFF) + b"\x16" * 100,
        "64 KiB + 1 announced": struct.pack("!BI", 0xC0, 64 * 1024 + 1) + b"\x16" * 100,
        "length without more, not the data's": struct.pack("!BI", 0x80, 1 << 31) + b"\x16" * 10,
        "shorter than its fragment": struct.pack("!BI", 0xC0, 5) + b"\x16" * 10,
        "a length field cut short": b"\x80\x00\x01",
        "a Start from the peer": b"\x20",
    }
    before = served.metric("sesame_radius_decisions_total", method="peap", result="eap_malformed")
    with served.nas() as nas:
        for name, payload in cases.items():
            supplicant = served.supplicant(nas)
            identifier, method = proposed(supplicant.start())
            datagram = nas.request(
                user_name=supplicant.user_name,
                eap=response(identifier, method, payload),
                state=supplicant.state,
            )
            reply = nas.ask(datagram)
            assert reply is not None and reply.code == Code.ACCESS_REJECT, (name, reply)
            assert EAP_FAILURE.fullmatch(reply.eap), name
    after = served.metric("sesame_radius_decisions_total", method="peap", result="eap_malformed")
    assert after == before + len(cases)
    served.still_serving()


# -- State -----------------------------------------------------------------------------------------


def test_states_that_name_no_conversation_are_dropped_and_counted(served: Served) -> None:
    """A made-up State: of our shape for this worker, for the other worker (handed over, then not
    found there), for a worker that does not exist; not of our shape at all. A Response that is no
    identity cannot open a conversation: unanswered."""
    states = [
        make_state(0, os.urandom(16)),
        make_state(1, os.urandom(16)),
        make_state(9, os.urandom(16)),
        b"\x00" * 19,
        os.urandom(7),
    ]
    before = served.discarded("eap_unknown_state")
    forwarded = served.metric("sesame_radius_forwarded_total", outcome="sent")
    with served.nas() as nas:
        ack = response(3, 25, b"\x00")  # a PEAP fragment ack
        datagrams = [nas.request(user_name=f"anonymous@{REALM}".encode(), eap=ack, state=s) for s in states]
        assert nas.ask_all(datagrams, timeout=1.5) == [None] * len(states)
    assert served.discarded("eap_unknown_state") == before + len(states)
    # this access point's socket lands on one worker: the State naming the other was handed over
    assert served.metric("sesame_radius_forwarded_total", outcome="sent") == forwarded + 1
    served.still_serving()


def test_a_round_from_another_access_point_with_a_live_state_is_dropped(served: Served) -> None:
    """A State answers only the access point that got it: another one (even an access point of
    ours, with its own secret) sending a round with it is ignored, and the conversation goes on."""
    with served.nas() as nas, served.nas(other=True) as other:
        supplicant = served.supplicant(nas)
        supplicant.start()
        for _ in range(3):  # into the TLS handshake
            supplicant.step()
        assert supplicant.last is not None and supplicant.last.code == Code.ACCESS_CHALLENGE
        before = served.discarded("eap_foreign_state")
        response_ = supplicant.next_response()  # what the device would answer next
        stolen = other.request(user_name=supplicant.user_name, eap=response_, state=supplicant.state)
        assert other.ask(stolen, timeout=1.0) is None
        assert served.discarded("eap_foreign_state") == before + 1
        # the owner's access point sends the very same answer: the conversation goes on to the end
        datagram = nas.request(user_name=supplicant.user_name, eap=response_, state=supplicant.state)
        supplicant.sent.append(datagram)
        reply = nas.ask(datagram)
        assert reply is not None and reply.code == Code.ACCESS_CHALLENGE, reply
        supplicant.last, supplicant.state = reply, reply.state
        done = supplicant.run()
        assert done is not None and done.code == Code.ACCESS_ACCEPT, done
        assert supplicant.msk_matches(done, supplicant.sent[-1])
    served.still_serving()


def test_replayed_rounds_and_states(served: Served) -> None:
    """A retransmission (the same datagram) is answered from the duplicate cache; an earlier round
    sent again as a new request carries a stale EAP Identifier and is ignored (RFC 3748 §4.1) while
    the conversation goes on; once it ended, its State names nothing."""
    with served.nas() as nas:
        supplicant = served.supplicant(nas)
        supplicant.start()
        supplicant.step()
        supplicant.step()
        current = supplicant.last
        assert current is not None and current.code == Code.ACCESS_CHALLENGE
        # the previous round's EAP again, as a new request with the current State
        stale = nas.request(
            user_name=supplicant.user_name,
            eap=b"".join(codec.parse(supplicant.sent[-2]).all(codec.EAP_MESSAGE)),
            state=supplicant.state,
        )
        before = served.discarded("eap_wrong_identifier")
        assert nas.ask(stale, timeout=1.0) is None
        assert served.discarded("eap_wrong_identifier") == before + 1
        # the last round retransmitted as is: the same Access-Challenge, from the cache
        duplicates = served.metric("sesame_radius_duplicates_answered_total")
        again = nas.ask(supplicant.sent[-1])
        assert again is not None and again.packet.raw == current.packet.raw
        assert served.metric("sesame_radius_duplicates_answered_total") == duplicates + 1
        done = supplicant.run()
        assert done is not None and done.code == Code.ACCESS_ACCEPT, done
        final = supplicant.sent[-1]
        # after the end: the last request retransmitted gets the same Access-Accept ...
        repeat = nas.ask(final)
        assert repeat is not None and repeat.packet.raw == done.packet.raw
        # ... and its State in a new request opens nothing
        before = served.discarded("eap_unknown_state")
        replay = nas.request(
            user_name=supplicant.user_name,
            eap=b"".join(codec.parse(final).all(codec.EAP_MESSAGE)),
            state=codec.parse(final).first(codec.STATE),
        )
        assert nas.ask(replay, timeout=1.0) is None
        assert served.discarded("eap_unknown_state") == before + 1
    served.still_serving()


def test_conversations_of_two_access_points_interleaved_round_by_round(served: Served) -> None:
    with served.nas() as nas, served.nas(other=True) as other:
        one, two = served.supplicant(nas), served.supplicant(other, fragment_size=300)
        one.start()
        two.start()
        while True:
            pending = [s for s in (one, two) if s.last is not None and s.last.code == Code.ACCESS_CHALLENGE]
            if not pending:
                break
            for supplicant in pending:
                assert supplicant.step() is not None
        for supplicant in (one, two):
            assert supplicant.last is not None and supplicant.last.code == Code.ACCESS_ACCEPT
            supplicant.peer.answer(supplicant.last.eap)
            assert supplicant.peer.outcome == "success"
            assert supplicant.msk_matches(supplicant.last, supplicant.sent[-1])
    served.still_serving()


# -- rounds and time -------------------------------------------------------------------------------


def test_a_conversation_of_too_many_rounds_is_refused(served: Served) -> None:
    """4-octet TLS fragments: the ClientHello alone takes more than the 50 rounds a conversation
    may have."""
    name = f"rounds{secrets.token_hex(3)}@{REALM}"
    with served.nas() as nas:
        supplicant = served.supplicant(nas, outer=name, fragment_size=4)
        done = supplicant.run()
    assert done is not None and done.code == Code.ACCESS_REJECT, done
    assert EAP_FAILURE.fullmatch(done.eap)
    assert supplicant.rounds == 51  # SESAME_EAP_MAX_ROUNDS (50) answered, the 51st refused
    assert served.decisions(name) == [("Access-Reject", "eap-ttls", "eap_rounds")]
    served.still_serving()


def test_an_abandoned_conversation_is_forgotten_after_its_deadline(served: Served) -> None:
    with served.nas() as nas:
        abandoned = served.supplicant(nas)
        abandoned.start()
        abandoned.step()
        abandoned.step()
        assert abandoned.last is not None and abandoned.last.code == Code.ACCESS_CHALLENGE
        time.sleep(DEADLINE + 1.5)
        # the worker holding it forgets what is past its deadline as EAP traffic comes (this access
        # point's rounds all reach the same worker): a new conversation from here succeeds ...
        fresh = served.supplicant(nas)
        done = fresh.run()
        assert done is not None and done.code == Code.ACCESS_ACCEPT, done
        # ... and the abandoned one's next round finds nothing
        before = served.discarded("eap_unknown_state")
        assert abandoned.step(timeout=1.0, tries=1) is None
        assert served.discarded("eap_unknown_state") == before + 1
    served.still_serving()
