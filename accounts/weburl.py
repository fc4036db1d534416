"""Where the portal may send a browser, or a credential: one rule for every such address.

The portal hands single-use RADIUS tokens to controllers (CoovaChilli's ``uamip``, a form POST's
``login_url``) and sends browsers to addresses that admins configure (``done_url``, a logo) or
that come from the wire (CoovaChilli's ``userurl``, a Meraki ``continue_url``). An address that
fails here is never used, whoever wrote it (docs/security.md):

* ``https://`` to a host name or an IP literal — TLS says who receives what we send; or
* ``http://`` only to an IP literal on the controller's own private network: RFC 1918
  (10/8, 172.16/12, 192.168/16), loopback (127/8, ::1) or an IPv6 unique local address
  (fc00::/7, RFC 4193). That is where a controller's login page sits (CoovaChilli's uamip,
  pfSense's $PORTAL_ACTION$), reachable only from the client's own network;
* where the caller allows it, a path on the portal itself (``/…``, never ``//…``).

Where the person asked to go before the portal caught them (``userurl``, ``continue_url``) is
different: no credential goes there, the person is only offered it as a link after log-in (or
the controller sends them there itself), and it is mostly ``http://`` to any site. For those,
:func:`is_destination` also allows ``http://`` to any host; everything else above still holds.
Refusing it would protect nothing: a crafted link can name an ``https://`` site as well.

Nothing else: no other scheme (``javascript:``, ``data:``), no user-info (``https://a@b``), no
character that RFC 3986 does not allow in a URL (a space, a backslash, quotes, angle brackets,
controls), which browsers and ``urlsplit`` could read differently.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from accounts.errors import InvalidInput

MAX_LENGTH = 2048
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1/128", "fc00::/7")
)
# RFC 3986 §2: unreserved, reserved and '%' (percent-encoding) — nothing else is a URL character
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_HOST_NAME = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*")


def private_address(host: str) -> bool:
    """Whether ``host`` is an IP literal on a private network (RFC 1918, loopback, ULA)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
    return any(address in network for network in PRIVATE_NETWORKS if network.version == address.version)


def web_target(
    value: str, *, what: str = "the address", local_paths: bool = False, any_http: bool = False
) -> str:
    """``value`` if a browser may be sent there (see the module's rule); else :class:`InvalidInput`
    saying why (for operators: an admin setting, or a log line)."""
    if not value or len(value) > MAX_LENGTH or not _URL_CHARACTERS.fullmatch(value):
        raise InvalidInput(f"{what} is empty, longer than {MAX_LENGTH} or holds characters a URL may not")
    if local_paths and value.startswith("/") and not value.startswith("//"):
        return value
    try:
        parts = urlsplit(value)
        host, _ = parts.hostname, parts.port  # a bad port raises ValueError
    except ValueError:
        raise InvalidInput(f"{what} cannot be read as a URL") from None
    if parts.scheme not in ("http", "https") or not host or "@" in parts.netloc:
        raise InvalidInput(f"{what} is not a plain https:// address")
    is_ip = _is_ip(host)  # urlsplit's hostname: lower-case, an IPv6 literal without its brackets
    if parts.scheme == "http" and not any_http and not (is_ip and private_address(host)):
        raise InvalidInput(
            f"{what} must be https://, or http:// to the controller's private IP address "
            "(RFC 1918, unique local or loopback)"
        )
    if not is_ip and not _HOST_NAME.fullmatch(host.rstrip(".")):
        raise InvalidInput(f"{what} has a host name that is not a DNS name")
    return value


def is_destination(value: str | None) -> bool:
    """Whether ``value`` may be offered as where the person wanted to go (see the module's rule)."""
    if value is None:
        return False
    try:
        web_target(value, any_http=True)
    except InvalidInput:
        return False
    return True


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
