"""A simulated access point for driving the RADIUS core in memory at a fixed ``now``.

Requests are built and replies verified with pyrad's own client code, an implementation
independent of the server's framing in ``radius.codec``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pytest
from pyrad import packet as pp
from pyrad.dictionary import Dictionary

from radius import DICTIONARY
from radius.clients import Client, ClientTable
from radius.codec import Codec

SECRET = b"testing123-secret"
AP_IP = "192.0.2.10"


@pytest.fixture(scope="session")
def radius_codec() -> Codec:
    return Codec([DICTIONARY])


@pytest.fixture(scope="session")
def dictionary(radius_codec: Codec) -> Dictionary:
    return radius_codec.dictionary


@pytest.fixture
def clients() -> ClientTable:
    return ClientTable(
        [
            Client(
                id=1,
                name="ap-valence",
                network=ipaddress.ip_network("192.0.2.0/24"),
                secret=SECRET,
                site_id=7,
            ),
            Client(
                id=2,
                name="legacy-ap",
                network=ipaddress.ip_network("198.51.100.5/32"),
                secret=SECRET,
                require_message_authenticator=False,
            ),
        ]
    )


@dataclass
class AccessPoint:
    """Builds requests as a NAS would, with pyrad."""

    dictionary: Dictionary
    secret: bytes = SECRET
    address: tuple[str, int] = (AP_IP, 40000)

    def access_request(
        self, *, sign: bool = True, identifier: int = 1, **attributes: object
    ) -> pp.AuthPacket:
        request = pp.AuthPacket(
            code=pp.AccessRequest, id=identifier, secret=self.secret, dict=self.dictionary
        )
        for name, value in attributes.items():
            name = name.replace("_", "-")
            if name == "User-Password":
                request[name] = request.PwCrypt(value)
            else:
                request[name] = value
        if sign:
            request.add_message_authenticator()
        return request

    def status_server(self, *, code: int = pp.StatusServer, sign: bool = True) -> pp.Packet:
        request = pp.AuthPacket(code=code, id=9, secret=self.secret, dict=self.dictionary)
        request.authenticator = request.CreateAuthenticator()
        if sign:
            request.add_message_authenticator()
        return request

    def accounting_request(self, **attributes: object) -> pp.AcctPacket:
        request = pp.AcctPacket(id=3, secret=self.secret, dict=self.dictionary)
        for name, value in attributes.items():
            request[name.replace("_", "-")] = value
        return request

    def verify(self, request: pp.Packet, reply_bytes: bytes) -> pp.Packet:
        reply = request.CreateReply(packet=reply_bytes)
        assert request.VerifyReply(reply, reply_bytes, enforce_ma=request.code in (1, 12)), (
            "reply does not verify"
        )
        return reply


@pytest.fixture
def ap(dictionary: Dictionary) -> AccessPoint:
    return AccessPoint(dictionary)
