"""What a partner's name, realm patterns and home servers may be (checks and normal forms, no
database): :mod:`accounts.partners` applies them before it writes anything.

Patterns are stored lower-case with internationalised names as A-labels (IDNA 2008, UTS #46
mapping), so routing compares plain ASCII strings; hosts are IP literals written compressed or
DNS names as A-labels.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import idna

from accounts.errors import InvalidInput
from accounts.models import HomeServer
from accounts.network import MAX_NAS_SECRET, check_nas_secret

#: RFC 6614 §2.3: over TLS the RADIUS shared secret is this fixed string (TLS protects the packets)
RADSEC_SECRET = "radsec"  # noqa: S105 - a protocol constant
UDP, RADSEC = "udp", "radsec"
TRANSPORTS = (UDP, RADSEC)
#: RFC 2865 (authentication over UDP) and RFC 6614 §2.1 (RadSec over TCP)
DEFAULT_PORTS = {UDP: 1812, RADSEC: 2083}
CATCH_ALL = "*"
MAX_PRIORITY = 1000
#: what the RADIUS processes write in ``home_server.state``, as FreeRADIUS names its home servers'
#: states (alive, zombie: stopped answering and being probed, dead); "unknown" until first probed
HOME_SERVER_STATES = ("unknown", "alive", "zombie", "dead")

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


# -- names, patterns, hosts --------------------------------------------------------------------


def normalize_partner_name(raw: str) -> str:
    """A partner's name: a lower-case slug (``liguria``, ``geant-etlr1``), not only digits (an id)."""
    name = raw.strip().lower()
    if not _NAME.fullmatch(name) or name.isdigit():
        raise InvalidInput(
            f"{raw!r} is not a partner name: 1 to 63 letters a-z, digits or '-', starting with a letter "
            "or digit, not only digits"
        )
    return name


def _dns_name(raw: str, *, what: str, min_labels: int) -> str:
    """A DNS name as lower-case A-labels; Unicode is accepted and encoded (IDNA 2008, UTS #46)."""
    text = raw.strip().rstrip(".")
    try:
        name = idna.encode(text, uts46=True).decode("ascii") if text else ""
    except UnicodeError:  # idna.IDNAError is one: an empty or over-long label, a forbidden character
        name = ""
    labels = name.split(".")
    # RFC 3696 §2: a top-level label is never all digits (so 10.1.2 cannot pass for a name)
    if (
        not name
        or len(name) > 253
        or len(labels) < min_labels
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        dots = " with at least one dot" if min_labels > 1 else ""
        raise InvalidInput(f"{raw!r} is not {what}: use a DNS name{dots} (letters, digits, '-')")
    return name


def normalize_realm_pattern(raw: str) -> str:
    """``liguria.example`` (that realm, any case), ``*.liguria.example`` (its subdomains, not the bare
    name) or ``*`` (every realm no other pattern matches: the upstream federation proxy)."""
    text = raw.strip()
    if text == CATCH_ALL:
        return CATCH_ALL
    wildcard = text.startswith("*.")
    name = _dns_name(text[2:] if wildcard else text, what="a realm pattern", min_labels=2)
    pattern = f"*.{name}" if wildcard else name
    if len(pattern) > 253:
        raise InvalidInput(f"{raw!r} is not a realm pattern: at most 253 characters")
    return pattern


def pattern_matches(pattern: str, realm: str) -> bool:
    """Whether a stored pattern matches a normalised realm (``*`` matches every realm)."""
    if pattern == CATCH_ALL:
        return True
    if pattern.startswith("*."):
        return realm.endswith(pattern[1:])
    return realm == pattern


def check_not_ours(pattern: str, home_realm: str) -> None:
    """Our own realm is answered here, never routed away, and neither is a name under it (our DNS
    namespace). The catch-all is the exception by definition: it only receives what matched
    nothing else, and our realm always matches first."""
    home = home_realm.strip().lower().rstrip(".")
    if pattern == CATCH_ALL:
        return
    bare = pattern.removeprefix("*.")
    if pattern_matches(pattern, home) or bare == home or bare.endswith("." + home):
        raise InvalidInput(
            f"{pattern} is, covers or lies under our own realm {home}: it cannot be routed to a partner"
        )


def realm_patterns(realms: Sequence[str], home_realm: str) -> list[str]:
    """The realm patterns of one request, normalised, checked against our own realm, without repeats."""
    patterns: list[str] = []
    for raw in realms:
        pattern = normalize_realm_pattern(raw)
        check_not_ours(pattern, home_realm)
        if pattern not in patterns:
            patterns.append(pattern)
    return patterns


def normalize_host(raw: str) -> str:
    """A home server's address: an IP literal (``192.0.2.1``, ``2001:db8::1``, ``[2001:db8::1]``),
    written compressed, or a DNS name as lower-case A-labels."""
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return _dns_name(text, what="a host", min_labels=1)


def _port(raw: str, server: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise InvalidInput(f"{server!r}: a port is a number from 1 to 65535")
    return int(raw)


def parse_server(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port``, ``[v6]`` or a bare IPv6 address → (host, port or None)."""
    raw = text.strip()
    if raw.startswith("["):
        inside, closed, rest = raw[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise InvalidInput(f"{text!r}: write an IPv6 address with a port as [2001:db8::1]:1812")
        try:
            ipaddress.IPv6Address(inside)
        except ValueError:
            raise InvalidInput(f"{text!r}: only an IPv6 address goes in brackets") from None
        return normalize_host(inside), _port(rest[1:], text) if rest else None
    if raw.count(":") > 1:  # a bare IPv6 address: no port can follow without brackets
        return normalize_host(raw), None
    host, colon, port = raw.partition(":")
    return normalize_host(host), _port(port, text) if colon else None


# -- home servers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeServerSpec:
    """A home server as an admin describes it; ``port`` None is the transport's default, ``secret``
    None is RFC 6614's ``radsec`` over RadSec (a UDP server needs its own)."""

    host: str
    port: int | None = None
    transport: str = UDP
    secret: str | None = field(default=None, repr=False)
    tls_name: str | None = None
    priority: int = 0
    acct_port: int | None = None
    #: refuse its replies without Message-Authenticator (off: a legacy server that cannot sign)
    require_message_authenticator: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedServer:
    """A :class:`HomeServerSpec` once checked: host normalised, defaults filled, secret as bytes."""

    host: str
    port: int
    acct_port: int | None
    transport: str
    secret: bytes = field(repr=False)
    tls_name: str | None
    priority: int
    require_message_authenticator: bool = True

    @property
    def key(self) -> tuple[str, int, str]:
        return self.host, self.port, self.transport


def check_home_server_secret(transport: str, secret: str | None) -> bytes:
    """The rules of a home server's shared secret: a NAS secret's over UDP (8 to 128 bytes, RFC 2865
    §3 asks 16+); over RadSec 1 to 128 bytes, ``radsec`` when none is given (RFC 6614 §2.3)."""
    if transport == RADSEC:
        raw = (secret or RADSEC_SECRET).encode("utf-8")
        if len(raw) > MAX_NAS_SECRET:
            raise InvalidInput(f"a shared secret has at most {MAX_NAS_SECRET} bytes")
        return raw
    if not secret:
        raise InvalidInput("a UDP home server needs a shared secret")
    return check_nas_secret(secret)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def check_home_server(spec: HomeServerSpec) -> CheckedServer:
    """Every rule of a home server that needs no database (uniqueness is the caller's)."""
    transport = spec.transport.strip().lower()
    if transport not in TRANSPORTS:
        raise InvalidInput(f"unknown transport {spec.transport!r}; choose one of {', '.join(TRANSPORTS)}")
    port = DEFAULT_PORTS[transport] if spec.port is None else spec.port
    if not 1 <= port <= 65535:
        raise InvalidInput("a port is a number from 1 to 65535")
    if not 0 <= spec.priority <= MAX_PRIORITY:
        raise InvalidInput(f"a priority is between 0 (tried first) and {MAX_PRIORITY}")
    if spec.tls_name and transport != RADSEC:
        raise InvalidInput("a TLS name is for RadSec home servers only")
    if transport == RADSEC and not spec.tls_name and _is_ip(spec.host):
        # certificates are matched by DNS name (SubjectAltName, else CN): an address never matches
        raise InvalidInput("a RadSec home server given by IP address needs the name its certificate carries")
    if spec.acct_port is not None and (transport != UDP or not 1 <= spec.acct_port <= 65535):
        raise InvalidInput("an accounting port is a number from 1 to 65535, for UDP home servers only")
    return CheckedServer(
        host=normalize_host(spec.host),
        port=port,
        acct_port=spec.acct_port,
        transport=transport,
        secret=check_home_server_secret(transport, spec.secret),
        tls_name=normalize_host(spec.tls_name) if spec.tls_name else None,
        priority=spec.priority,
        require_message_authenticator=spec.require_message_authenticator,
    )


def server_address(server: HomeServer) -> str:
    """``192.0.2.1:1812``, ``[2001:db8::1]:2083``, ``radius.example:1812`` (what parse_server reads)."""
    host = f"[{server.host}]" if ":" in server.host else server.host
    return f"{host}:{server.port}"


def describe_server(server: HomeServer) -> str:
    """``udp 192.0.2.1:1812``, ``radsec [2001:db8::1]:2083`` (how people name a server)."""
    return f"{server.transport} {server_address(server)}"
