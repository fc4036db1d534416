"""Status-Server (RFC 5997) as an operator's probe sends it: the request and the check of its answer.

Sans-I/O: bytes in, bytes or a verdict out; :mod:`federation.probe` sends them over UDP or RadSec.
(The proxy core's own watchdog probes live in :mod:`federation.proxy`.)
"""

from __future__ import annotations

import secrets

from radius import codec

UNSIGNED = "reply without Message-Authenticator"


def status_server(secret: bytes) -> bytes:
    """A Status-Server with Message-Authenticator (mandatory in it, RFC 5997 §3)."""
    return codec.encode_request(
        code=codec.Code.STATUS_SERVER, identifier=secrets.randbelow(256), secret=secret, attributes=b""
    )


def check_status_reply(data: bytes, *, request: bytes, secret: bytes) -> str | None:
    """Why a packet is not a valid answer to our Status-Server ``request``; None when it is, or
    :data:`UNSIGNED` when it is valid but carries no Message-Authenticator.

    RFC 5997 §3: a server answers a Status-Server sent to its authentication port with an
    Access-Accept, signed like any reply (Response Authenticator, RFC 2865 §3). Since BlastRADIUS,
    FreeRADIUS (3.2.5+) and radsecproxy also put a Message-Authenticator (RFC 2869 §5.14) in it,
    which must then be valid; Debian's FreeRADIUS 3.2.1 sends none. The Response Authenticator
    already proves the secret, and a Status-Server answer grants nothing, so such a server is
    alive, and the operator is told.
    """
    try:
        reply = codec.parse(data)
    except codec.Malformed as exc:
        return f"malformed ({exc.reason})"
    if reply.identifier != request[1]:
        return "another request's identifier"
    authenticator = request[4:20]
    if not codec.response_authenticator_valid(reply, secret, request_authenticator=authenticator):
        return "wrong Response Authenticator: is the shared secret right?"
    if reply.code != codec.Code.ACCESS_ACCEPT:
        try:
            name = codec.Code(reply.code).name
        except ValueError:
            name = f"code {reply.code}"
        return f"{name} instead of Access-Accept"
    if reply.first(codec.MESSAGE_AUTHENTICATOR) is None:
        return UNSIGNED
    if not codec.message_authenticator_valid(reply, secret, request_authenticator=authenticator):
        return "wrong Message-Authenticator"
    return None
