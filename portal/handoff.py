"""Hand-off integrations: trusting a controller's redirect, and sending the browser back to it.

Theory of operation: an access point or controller (the NAS) catches a new client's web traffic
and redirects the browser to our portal with query parameters (who the client is, where it wanted
to go, how to reach the controller). The portal logs the person in, mints a single-use RADIUS
token and sends the browser back to the controller with ``username`` + token; the controller then
sends us an Access-Request, where access is really decided. Each integration has two pure steps:

1. ``arrive(url=, params=, config=)`` verifies the redirect (a checksum when the controller signs
   it, an allow-list for any URL a token may later be posted to) and returns an :class:`Arrival`
   whose small ``state`` (str→str) the portal keeps in a signed cookie;
2. ``handoff(arrival, username=, token=, config=)`` says where the browser goes: a GET URL, or a
   form POST (action + fields) that the portal renders and submits.

Where a credential or a browser may go is one rule for every integration
(:func:`accounts.weburl.web_target`: https://, or http:// to a private IP literal), checked when
an admin sets it (``accounts.network.set_handoff``) and again here, at arrival and at hand-off:
the token only goes to the target the verified arrival named (kept in the signed state) and only
if the access point's current settings still allow it. An address from the wire that fails the
rule (``userurl``, ``continue_url``) is dropped, never followed. The token itself is bound to the
access point (``radius_token.nas_id``), so even a target that leaks it cannot use it elsewhere.

No I/O, no clock. Every bad input is a :class:`HandoffError` (``reason`` for logs and metrics; the
message is for operators, the portal shows its own translated page). The registry is filled at
import and checked at start-up (:func:`integration`): an unknown name is a configuration error.

``coovachilli`` (CoovaChilli/ChilliSpot UAM), facts read in coova/coova-chilli at e0c7d7a:
* The redirect is ``<uamserver>?res=&uamip=&uamport=&challenge=&called=&mac=&ip=&nasid=
  &sessionid=&userurl=&md=`` (src/redir.c ``bstring_buildurl``, l. 414-637), values
  percent-encoded in lower-case hex, only ``A-Za-z0-9-_.!~*`` bare (``redir_urlencode``,
  l. 216-241). A ``uamsecret`` is required (without one, anybody could craft a link that sends
  the token to a ``uamip`` of their choice, encoded under a challenge of their choice), and the
  ``uamip`` must be a private address (the logon URL is plain http). ``md`` comes last: the
  UPPER-case hex MD5 of the whole URL built so far (uamserver, ``?``, every parameter; not
  ``&md=``) then the secret (``redir_md_param``, l. 630-660). So we hash ``url`` up to its last
  ``&md=``, and anything after the md value fails. ``options["uamserver"]`` replaces the part
  before ``?`` when the portal's public URL is not the uamserver chilli was given (a proxy in
  between).
* ``res`` is notyet, already, success, failed (+ ``reason`` reject/timeout/mtu/other), logoff,
  splash or challenge (``redir_reply``, l. 1575-1620); ``already`` comes without a challenge
  (l. 4256-4272), so the challenge (16 random bytes, 32 hex digits) is required only when a logon
  may follow.
* Logon: ``http://<uamip>:<uamport>/logon?username=&password=|response=&userurl=``
  (doc/hotspotlogin.cgi l. 71-115; ``logon`` or ``login``, redir.c l. 2238). Chilli takes
  ``c = MD5(challenge || uamsecret)``, or the raw challenge without a secret (l. 2830-2840).
  PAP: ``password`` is hex, its length/2 is the password length (at most RADIUS_PWSIZE 128) and
  byte *i* is ``pw[i] XOR c[i mod 16]`` (l. 2453-2470, 2846-2858): no padding is sent, chilli's
  RADIUS layer pads (RFC 2865 §5.2). CHAP: ``response = hex(MD5(ident || pw || c))``, ident 0
  without an ``ident`` parameter; chilli sends CHAP-Challenge = c (l. 2442-2452, 2897-2904,
  3140-3148; hotspotlogin.cgi ``md5_hex("\\0", $password, $newchal)``).
* Quirks: chilli percent-decodes ``userurl`` twice (``redir_getparam`` then ``redir_urldecode``,
  l. 2402-2405), so we encode it twice, ``username`` once; it never decodes ``+`` as a space
  (l. 244-267), so spaces go as ``%20``.
* Options: ``auth`` = ``pap`` (default) or ``chap``; ``uamserver``. Not supported: the
  ``uamhomepage`` ``loginurl=`` wrapping, ``nochallenge`` (plain-text PAP), MS-CHAPv2.

``form_post``: a login form the browser POSTs to the controller. Options: ``login_url`` (fixed)
or ``login_url_param`` (the parameter carrying it), which REQUIRES ``allowed_hosts`` (host names
or IPs, comma-separated; ``.example.com`` matches sub-domains): a crafted link must not make the
portal post a token elsewhere. Either way the URL passes :func:`accounts.weburl.web_target`.
``username_field``/``password_field`` (default username/password), ``extra_fields``
(``name=value,…`` constants, percent-decoded), ``pass_through`` (parameters copied into the form),
``client_mac_param``/``client_ip_param``/``user_url_param`` (defaults: client_mac, mac /
client_ip, ip / continue_url, redirurl, url, redirect).
* pfSense (pfsense/pfsense src/usr/local/captiveportal/index.php): the zone is the ``zone``
  request parameter; a login needs a non-empty ``accept`` and ``auth_user`` + ``auth_pass``;
  ``redirurl`` is where to go next. pfSense serves the portal page itself, so the operator uploads
  one that forwards to us ($PORTAL_ACTION$, $PORTAL_ZONE$, $PORTAL_REDIRURL$ are substituted;
  $CLIENT_MAC$/$CLIENT_IP$ seen in third-party pages only). Settings: ``login_url`` = the zone's
  $PORTAL_ACTION$ (its port varies by version, 8000/8001 in old code, 8002/8003 in later
  examples: copy it from the firewall), ``username_field=auth_user``, ``password_field=auth_pass``,
  ``extra_fields=zone=<zone>,accept=Continue``, ``pass_through=redirurl``.
* Meraki sign-on (developer.cisco.com/meraki/captive-portal-api/sign-on-api): the splash URL gets
  ``login_url`` (on ``n<N>.network-auth.com``), ``continue_url``, ``ap_mac``, ``ap_name``,
  ``ap_tags``, ``client_mac``, ``client_ip``; ``username`` and ``password`` are POSTed to
  login_url (``success_url`` optional). Settings: ``login_url_param=login_url``,
  ``allowed_hosts=.network-auth.com``. Click-through (``base_grant_url``) carries no credential.
* Cisco WLC external web auth: Cisco's guides confirm that the login is posted back to the
  controller; the names come from a third-party write-up (github.com/stuartst/cisco-wlc-captive-
  portal), unconfirmed by Cisco here: ``switch_url`` (the virtual-IP login page), ``ap_mac``,
  ``client_mac``, ``wlan``, ``redirect``; POST ``username``, ``password``, ``buttonClicked=4``
  (else the WLC sends the browser back). Settings: ``login_url_param=switch_url``,
  ``allowed_hosts=<virtual IP>``, ``extra_fields=buttonClicked=4``.

``none``: no controller hand-off (MAC authentication, 802.1X); the browser goes to
``options["done_url"]`` (a portal path or an address :func:`accounts.weburl.web_target` accepts)
or ``/``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from accounts.errors import InvalidInput
from accounts.weburl import is_destination, private_address, web_target

MAX_VALUE = 2048  # CoovaChilli's REDIR_USERURLSIZE; nothing we read is longer
MAX_PASSWORD = 128  # RADIUS_PWSIZE (RFC 2865 §5.2): chilli truncates a longer PAP password
MAX_USERNAME = 255  # REDIR_USERNAMESIZE 256 with the C string's NUL


class HandoffError(Exception):
    """The redirect parameters are missing, malformed or tampered with, or the settings are wrong.

    ``reason`` is a short machine word: ``bad_checksum``, ``secret_missing``,
    ``missing_parameter``, ``bad_parameter``, ``login_url_not_allowed``, ``bad_credentials``,
    ``bad_config``. The message is for operators' logs, never shown to the person as is.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class UnknownIntegration(KeyError):
    """A hand-off name no integration answers to: a configuration error found at start-up."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffConfig:
    """One access point's hand-off settings, as the portal reads them from the database."""

    integration: str
    secret: bytes | None = None
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrival:
    """What the controller told us, once verified; ``state`` is kept small for a signed cookie."""

    integration: str
    client_mac: str | None
    client_ip: str | None
    user_url: str | None
    state: Mapping[str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Handoff:
    """Where to send the browser: a GET to ``url``, or a form POST of ``fields`` to ``url``."""

    method: Literal["GET", "POST"]
    url: str
    fields: Mapping[str, str]


class Integration(Protocol):
    """A controller family: verifies its redirect (``arrive``), plans the way back (``handoff``)."""

    name: str

    def arrive(self, *, url: str, params: Mapping[str, str], config: HandoffConfig) -> Arrival: ...

    def handoff(self, arrival: Arrival, *, username: str, token: str, config: HandoffConfig) -> Handoff: ...


def _check(name: str, value: str) -> str:
    """Refuse what no controller sends: very long values, control characters, lone surrogates."""
    if len(value) > MAX_VALUE or not value.isprintable():
        raise HandoffError("bad_parameter", f"{name!r} is too long or holds unprintable characters")
    return value


def _get(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return _check(name, value) if value else None


def _require(params: Mapping[str, str], name: str) -> str:
    value = _get(params, name)
    if value is None:
        raise HandoffError("missing_parameter", f"the link has no {name!r}")
    return value


def _first(params: Mapping[str, str], configured: str | None, defaults: tuple[str, ...]) -> str | None:
    for name in (configured,) if configured else defaults:
        if value := _get(params, name):
            return value
    return None


def _ip(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise HandoffError("bad_parameter", f"{name!r} is not an IP address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise HandoffError("bad_parameter", f"{name!r} has an IPv6 zone")
    return str(address)


def _query(query: str) -> dict[str, str]:
    """The parameters of a raw query string; a repeated name is refused (no controller repeats one)."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict", max_num_fields=100)
    except ValueError:  # also UnicodeDecodeError: bad UTF-8 behind a %XX
        raise HandoffError("bad_parameter", "the link's query string cannot be read") from None
    params = dict(pairs)
    if len(params) != len(pairs):
        raise HandoffError("bad_parameter", "the link repeats a parameter")
    return params


def _user_url(value: str | None) -> str | None:
    """Where the person wanted to go, from the wire: kept only if the one rule allows it."""
    return value if is_destination(value) else None


def _names(option: str | None) -> list[str]:
    return [name.strip() for name in (option or "").split(",") if name.strip()]


def _credentials(username: str, token: str, limit: int) -> bytes:
    """The token's bytes, once the username and token are known to fit the controller."""
    try:
        secret = token.encode()
        size = len(username.encode())
    except UnicodeEncodeError:
        raise HandoffError("bad_credentials", "the username or token is not valid text") from None
    if not 0 < size <= MAX_USERNAME or not username.isprintable():
        raise HandoffError("bad_credentials", "the username is empty, too long or unprintable")
    if not 0 < len(secret) <= limit or not token.isprintable():
        raise HandoffError("bad_credentials", "the token is empty, too long or unprintable")
    return secret


class CoovaChilli:
    """CoovaChilli / ChilliSpot UAM: ``md``-signed redirect, PAP- or CHAP-encoded logon URL."""

    name = "coovachilli"
    results = frozenset({"notyet", "already", "success", "failed", "logoff", "splash", "challenge"})
    reasons = frozenset({"reject", "timeout", "mtu", "other"})

    def arrive(self, *, url: str, params: Mapping[str, str], config: HandoffConfig) -> Arrival:
        # ``params`` is ignored: everything is read from ``url``, the very bytes ``md`` covers.
        if uamserver := config.options.get("uamserver"):
            url = uamserver.partition("?")[0] + "?" + url.partition("?")[2]
        if len(url) > 4 * MAX_VALUE or not url.isascii() or not url.isprintable():
            raise HandoffError("bad_parameter", "the link is too long or not plain ASCII")
        signed, marker, md = url.rpartition("&md=") if "&md=" in url else (url, "", "")
        if not config.secret:  # unsigned, uamip and challenge would be whatever a link says
            raise HandoffError("secret_missing", "a CoovaChilli hand-off needs its UAM secret")
        expected = hashlib.md5(signed.encode() + config.secret, usedforsecurity=False).hexdigest()
        if not marker or not hmac.compare_digest(expected.upper().encode(), md.upper().encode()):
            raise HandoffError("bad_checksum", "the link's md checksum does not match the UAM secret")
        query = _query(signed.partition("?")[2])
        res = _require(query, "res")
        if res not in self.results:
            raise HandoffError("bad_parameter", f"unknown res {res!r}")
        state = {
            "res": res,
            "uamip": self._uamip(_require(query, "uamip")),
            "uamport": str(self._port(_require(query, "uamport"))),
        }
        if res not in ("already", "success") or "challenge" in query:
            state["challenge"] = self._challenge(_require(query, "challenge")).hex()
        if (reason := query.get("reason")) in self.reasons:
            state["reason"] = str(reason)
        return Arrival(
            integration=self.name,
            client_mac=_get(query, "mac"),
            client_ip=_ip("ip", _get(query, "ip")),
            user_url=_user_url(_get(query, "userurl")),
            state=state,
        )

    def handoff(self, arrival: Arrival, *, username: str, token: str, config: HandoffConfig) -> Handoff:
        if not config.secret:
            raise HandoffError("secret_missing", "a CoovaChilli hand-off needs its UAM secret")
        host = self._host(self._uamip(_require(arrival.state, "uamip")))
        port = self._port(_require(arrival.state, "uamport"))
        challenge = self._challenge(_require(arrival.state, "challenge"))
        auth = config.options.get("auth") or "pap"
        secret = _credentials(username, token, MAX_PASSWORD if auth == "pap" else MAX_VALUE)
        # c = MD5(challenge || uamsecret) (redir.c l. 2830-2840; chilli without a secret uses the
        # raw challenge, which we refuse: the link is then unsigned)
        c = hashlib.md5(challenge + config.secret, usedforsecurity=False).digest()
        if auth == "pap":
            proof = ("password", bytes(byte ^ c[i % 16] for i, byte in enumerate(secret)).hex())
        elif auth == "chap":  # CHAP ident 0: no ``ident`` parameter is sent
            proof = ("response", hashlib.md5(b"\0" + secret + c, usedforsecurity=False).hexdigest())
        else:
            raise HandoffError("bad_config", f"coovachilli auth is pap or chap, not {auth!r}")
        query = [("username", username), proof]
        if user_url := _user_url(arrival.user_url):  # encoded twice: chilli decodes it twice (l. 2402-2405)
            query.append(("userurl", quote(_check("userurl", user_url), safe="")))
        url = f"http://{host}:{port}/logon?{urlencode(query, safe='', quote_via=quote)}"
        return Handoff(method="GET", url=url, fields={})

    @staticmethod
    def _uamip(value: str) -> str:
        """The controller's address: an IP literal on a private network (the logon URL is http)."""
        address = str(_ip("uamip", value))
        if not private_address(address):
            raise HandoffError("login_url_not_allowed", "uamip is not a private address")
        return address

    @staticmethod
    def _host(value: str) -> str:
        address = str(_ip("uamip", value))
        return f"[{address}]" if ":" in address else address

    @staticmethod
    def _port(value: str) -> int:
        if not (value.isascii() and value.isdigit() and len(value) <= 5 and 0 < int(value) < 65536):
            raise HandoffError("bad_parameter", "uamport is not a port number")
        return int(value)

    @staticmethod
    def _challenge(value: str) -> bytes:
        if len(value) != 32 or not all(char in string.hexdigits for char in value):
            raise HandoffError("bad_parameter", "the challenge is not 16 bytes of hex")
        return bytes.fromhex(value)


class FormPost:
    """A login form POSTed to the controller (pfSense, Meraki sign-on, Cisco WLC, openNDS-like)."""

    name = "form_post"

    def arrive(self, *, url: str, params: Mapping[str, str], config: HandoffConfig) -> Arrival:
        options = config.options
        carried = options.get("login_url_param")
        # the target is named now, kept in the signed state, and re-checked at hand-off
        state = {"login_url": self._login_url(params.get(carried) if carried else None, options)}
        for name in _names(options.get("pass_through")):
            if (value := _get(params, name)) is not None:
                state["f." + name] = value
        return Arrival(
            integration=self.name,
            client_mac=_first(params, options.get("client_mac_param"), ("client_mac", "mac")),
            client_ip=_ip("client_ip", _first(params, options.get("client_ip_param"), ("client_ip", "ip"))),
            user_url=_user_url(
                _first(params, options.get("user_url_param"), ("continue_url", "redirurl", "url", "redirect"))
            ),
            state=state,
        )

    def handoff(self, arrival: Arrival, *, username: str, token: str, config: HandoffConfig) -> Handoff:
        options = config.options
        named = arrival.state.get("login_url")
        if not named:
            raise HandoffError("missing_parameter", "the arrival named no login URL")
        # only where the arrival said, and only if the access point's settings still allow it
        login_url = self._login_url(named, options)
        if login_url != named:
            raise HandoffError("login_url_not_allowed", "the login URL changed since the arrival")
        _credentials(username, token, MAX_VALUE)
        fields = {
            name: value
            for name in _names(options.get("pass_through"))
            if (value := arrival.state.get("f." + name)) is not None
        }
        for item in _names(options.get("extra_fields")):
            name, equals, value = item.partition("=")
            if not equals or not name.strip():
                raise HandoffError("bad_config", f"extra_fields wants name=value, not {item!r}")
            fields[unquote(name.strip())] = unquote(value)
        fields[options.get("username_field") or "username"] = username
        fields[options.get("password_field") or "password"] = token
        for name, value in fields.items():
            _check("field name", name)
            _check(name, value)
        return Handoff(method="POST", url=login_url, fields=fields)

    @staticmethod
    def _login_url(carried: str | None, options: Mapping[str, str]) -> str:
        """The URL the token may be posted to: the fixed one, or a carried one on an allowed host."""
        if fixed := options.get("login_url"):
            return _checked_url(fixed, None, "bad_config")
        if not options.get("login_url_param"):
            raise HandoffError("bad_config", "form_post needs login_url or login_url_param")
        allowed = frozenset(
            host.strip("[]").lower().rstrip(".") for host in _names(options.get("allowed_hosts"))
        )
        if not allowed:
            raise HandoffError("bad_config", "login_url_param needs allowed_hosts")
        if not carried:
            raise HandoffError("missing_parameter", "the link does not say where to log in")
        return _checked_url(carried, allowed, "login_url_not_allowed")


def _checked_url(value: str, allowed: frozenset[str] | None, reason: str) -> str:
    """The login URL if the one rule (:func:`accounts.weburl.web_target`) and ``allowed`` accept it."""
    try:
        web_target(value, what="the login URL")
    except InvalidInput as error:
        raise HandoffError(reason, str(error)) from None
    host = (urlsplit(value).hostname or "").rstrip(".")
    if allowed is not None and not any(
        host == entry or (entry.startswith(".") and host.endswith(entry)) for entry in allowed
    ):
        raise HandoffError(reason, f"the login URL's host {host!r} is not in allowed_hosts")
    return value


class NoHandoff:
    """No controller hand-off (MAC authentication, 802.1X): nothing to verify, nothing to post."""

    name = "none"

    def arrive(self, *, url: str, params: Mapping[str, str], config: HandoffConfig) -> Arrival:
        return Arrival(integration=self.name, client_mac=None, client_ip=None, user_url=None, state={})

    def handoff(self, arrival: Arrival, *, username: str, token: str, config: HandoffConfig) -> Handoff:
        done = config.options.get("done_url") or "/"
        try:  # an admin's setting, checked when set; checked again: it is an open redirect else
            web_target(done, what="done_url", local_paths=True)
        except InvalidInput as error:
            raise HandoffError("bad_config", str(error)) from None
        return Handoff(method="GET", url=done, fields={})


INTEGRATIONS: Mapping[str, Integration] = MappingProxyType(
    {item.name: item for item in (CoovaChilli(), FormPost(), NoHandoff())}
)


def integration(name: str) -> Integration:
    """The integration called ``name``; an unknown name raises :class:`UnknownIntegration` (a KeyError)."""
    try:
        return INTEGRATIONS[name]
    except KeyError:
        known = ", ".join(sorted(INTEGRATIONS))
        raise UnknownIntegration(f"unknown hand-off integration {name!r}; known: {known}") from None


# Looked at in this order: our own ``nas`` (the shortname operators put in the splash URL),
# CoovaChilli's ``nasid`` (radiusnasid, redir.c l. 521-527), Meraki's ``ap_name``, WiFiDog/openNDS's
# ``gw_id``. The value is only a lookup key: the integration then verifies the link under the
# secret and settings of the access point it names.
NAS_PARAMETERS = ("nas", "nasid", "ap_name", "gw_id")


def identify_nas(params: Mapping[str, str]) -> str | None:
    """The shortname of the access point that sent these parameters, if they name one."""
    for name in NAS_PARAMETERS:
        value = params.get(name)
        if value and len(value) <= 64 and value.isprintable():
            return value
    return None
