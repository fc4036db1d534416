"""A real FreeRADIUS 3.2 (Debian) as the partner region in federation interop tests.

``FreeRadiusPeer`` writes a self-contained configuration (the templates of ``freeradius/``; nothing
is copied from /etc/freeradius) into a work directory and runs ``freeradius -f -d DIR -l LOG`` on
free loopback ports. One instance plays one role:

- **home server** of its realm (``liguria.example``): ``user@liguria.example`` is stripped by the
  ``suffix`` realm module and checked against a users file (PAP, CHAP, MS-CHAP; PEAP/MSCHAPv2 and
  TTLS/PAP or MSCHAPv2 with ``eap=True``); an Access-Accept carries Session-Timeout 7200,
  Reply-Message "Benvenuto", a Class and, when asked (RFC 4372), a Chargeable-User-Identity; an
  Access-Reject says "Credenziali errate";
- **proxy**: ``proxy_realms`` sends those realms, User-Name untouched, to a home server (Sésame)
  probed with Status-Server (RFC 5997); accounting is always answered locally;
- **PEAP/TTLS front-end** (``eap=True, inner_proxy=...``): it terminates the TLS tunnel and proxies
  every inner authentication to a home server (Sésame) as plain RADIUS: an inner EAP-MSCHAPv2
  becomes MS-CHAP-Challenge + MS-CHAP2-Response (RFC 2548), and the home server's MS-CHAP2-Success
  finishes the EAP-MSCHAPv2 exchange inside the tunnel.

Replies carry Message-Authenticator first, as FreeRADIUS >= 3.2.5 sends them (``sign_replies=False``:
as Debian's 3.2.1 does). ``host="127.0.0.2"`` puts the peer on an address of its own, so that
Sésame can tell it from the access points at 127.0.0.1.

Every Access-Request it receives is written by the ``detail`` module as FreeRADIUS prints it:
``requests()``, ``requests_seen()`` and ``last_request()`` read that file, so a test can prove that
traffic went through this server and see what reached it (Operator-Name, Chargeable-User-Identity,
Proxy-State, Message-Authenticator, and the decrypted User-Password: a proxy must re-encrypt it for
the next hop, RFC 2865 §5.2).

Debian's ``freeradius`` and ``eapoltest`` packages provide the binaries; without them the tests are
skipped on a workstation and fail in CI (``need_tool``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.federation.pki import Authority
from tests.interop.conftest import need_tool
from tests.support.eapol import eapol_test as support_eapol_test
from tests.support.freeradius import FreeRadiusProcess, render
from tests.support.ports import free_udp_port
from tests.support.status_server import answers_status_server

TEMPLATES = Path(__file__).resolve().parent / "freeradius"
#: The realm the inner tunnel proxies to with ``inner_proxy``: no User-Name names it (RFC 2606 .invalid)
INNER_REALM = "inner-home.invalid"
HOST = "127.0.0.1"
READY = "Ready to process requests"

Record = list[tuple[str, str]]


class FreeRadiusPeer(FreeRadiusProcess):
    """A private FreeRADIUS 3.2 on a loopback address, configured for one role; a context manager.

    ``host``: another loopback address (127.0.0.2…) gives the peer an address of its own, for its
    ports and as the source of what it proxies: a test can then tell the partner from an access
    point at 127.0.0.1, as a RADIUS server tells clients apart (by source address).

    ``users`` maps a name to its cleartext password; a name is the part before ``@realm`` (a key
    ending in ``@<realm>`` is stripped too). ``clients`` maps an address or CIDR to its secret
    (default: 127.0.0.1 with ``secret``); every client must sign its Access-Requests with
    Message-Authenticator. ``proxy_realms`` maps a realm to its home server (host, auth port,
    secret). ``inner_proxy`` (needs ``eap``): the home server (host, auth port, secret) that
    authenticates what comes out of PEAP and TTLS tunnels, whatever the inner realm, instead of the
    users file. ``sign_replies``: Message-Authenticator first in every Access-Accept and -Reject as
    FreeRADIUS >= 3.2.5 does (False: only in EAP replies, as Debian's 3.2.1 does). ``with`` starts
    the server (unless it runs) and stops it. The ports are the peer's own until it first starts
    (read ``auth_port`` after that): a port taken meanwhile means new ones and another try.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        realm: str = "liguria.example",
        secret: str = "liguria-secret-1",
        users: Mapping[str, str] | None = None,
        clients: Mapping[str, str] | None = None,
        proxy_realms: Mapping[str, tuple[str, int, str]] | None = None,
        eap: bool = False,
        inner_proxy: tuple[str, int, str] | None = None,
        status_server: bool = True,
        sign_replies: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(workdir)
        self.realm = realm
        self.secret = secret
        self.users = {_local_part(name, realm): password for name, password in (users or {}).items()}
        self.clients = dict(clients) if clients is not None else {HOST: secret}
        self.proxy_realms = dict(proxy_realms or {})
        self.eap = eap
        if inner_proxy is not None and not eap:
            raise ValueError("inner_proxy needs eap=True: only a tunnel has an inside to proxy")
        self.inner_proxy = inner_proxy
        self.status_server = status_server
        self.sign_replies = sign_replies
        self.host = host
        self.auth_port = free_udp_port(host)
        self.acct_port = free_udp_port(host)
        self._ports_published = False
        self._probe: str | None = None
        self._configure()

    # -- configuration

    @property
    def ca_cert(self) -> Path:
        """The CA that signed the EAP server certificate (for eapol_test's ``ca_cert``)."""
        return self.dir / "certs" / "ca.pem"

    @property
    def server_name(self) -> str:
        """The DNS name in the EAP server certificate."""
        return f"radius.{self.realm}"

    def _configure(self) -> None:
        for value in (self.realm, self.secret, *self.users, *self.users.values(), *self.clients.values()):
            _check_config_string(value)
        self.dir.mkdir(parents=True, exist_ok=True)
        for sub in ("log", "run", "certs", "mods-enabled", "sites-enabled"):
            (self.dir / sub).mkdir(exist_ok=True)
        for seen in (self._requests_file, self._accounting_file, self.dir / "log" / "proxy-replies.detail"):
            seen.unlink(missing_ok=True)  # a peer counts from zero, even in a reused directory
        ports = {
            "DIR": str(self.dir),
            "HOST": self.host,
            "AUTH_PORT": str(self.auth_port),
            "ACCT_PORT": str(self.acct_port),
        }
        eap_authorize = "eap {\n\t\t\tok = return\n\t\t}" if self.eap else ""
        eap_authenticate = "Auth-Type EAP {\n\t\t\teap\n\t\t}" if self.eap else ""
        sign = "update reply {\n\t\t\t&Message-Authenticator := 0x00\n\t\t}" if self.sign_replies else ""
        sign_proxied = f"{sign}\n\t\tupdate proxy-reply {{\n\t\t\t&Message-Authenticator !* ANY\n\t\t}}"
        self._write(
            "radiusd.conf", "radiusd.conf", STATUS_SERVER="yes" if self.status_server else "no", **ports
        )
        self._write("mods-enabled/modules", "modules.conf")
        self._write(
            "sites-enabled/peer",
            "site-peer",
            EAP_AUTHORIZE=eap_authorize,
            EAP_AUTHENTICATE=eap_authenticate,
            EAP_POST_PROXY="eap" if self.eap else "",
            SIGN_REPLY=sign,
            SIGN_PROXIED_REPLY=sign_proxied if self.sign_replies else "",
            **ports,
        )
        if self.eap:
            self._write("mods-enabled/eap", "eap.conf")
            inner = f'"{INNER_REALM}"' if self.inner_proxy else "LOCAL"
            self._write("sites-enabled/inner-tunnel", "site-inner-tunnel", INNER_REALM=inner)
            if not self.ca_cert.exists():
                _write_certificates(self.dir / "certs", self.server_name)
        self._write(
            "clients.conf",
            None,
            text="".join(
                _render("client.conf", N=str(n), ADDRESS=address, SECRET=secret)
                for n, (address, secret) in enumerate(self.clients.items())
            ),
        )
        proxied: list[str] = []
        pools: dict[tuple[str, int, str], int] = {}  # one home server per address, shared by realms
        routes = {**self.proxy_realms, **({INNER_REALM: self.inner_proxy} if self.inner_proxy else {})}
        for realm, (host, port, secret) in routes.items():
            _check_config_string(realm)
            _check_config_string(secret)
            n = pools.get((host, port, secret))
            if n is None:
                n = pools[(host, port, secret)] = len(pools)
                proxied.append(
                    _render(
                        "home-server.conf", N=str(n), HOST=host, PORT=str(port), SECRET=secret, SRC=self.host
                    )
                )
            proxied.append(_render("home-realm.conf", N=str(n), REALM=realm))
        self._write("proxy.conf", "proxy.conf", OWN_REALM=self.realm, PROXIED="\n".join(proxied))
        self._write(
            "users",
            None,
            text="".join(f'"{name}" Cleartext-Password := "{pw}"\n' for name, pw in self.users.items()),
        )
        for empty in ("acct_users", "preproxy_users"):
            self._write(empty, None, text="")

    def _write(self, target: str, template: str | None, *, text: str = "", **values: str) -> None:
        (self.dir / target).write_text(_render(template, **values) if template else text)

    # -- process

    def start(self, timeout: float = 30, *, attempts: int = 3) -> None:
        """Start and return once it answers Status-Server (or, without it, says it is ready)."""
        self.binary = need_tool("freeradius")
        self._probe = self._probe_secret()
        super().start(timeout, attempts=attempts if not self._ports_published else 1)
        self._ports_published = True

    def ready(self) -> bool:
        if self._probe is not None:
            return answers_status_server(self.host, self.auth_port, self._probe, timeout=0.2)
        return READY in self.logged_since_start()

    def choose_new_ports(self) -> bool:
        if self._ports_published:
            return False
        self.auth_port, self.acct_port = free_udp_port(self.host), free_udp_port(self.host)
        self._configure()
        return True

    def restart(self) -> None:
        """Stop and start again on the same ports (what it has logged so far is kept)."""
        self.stop()
        self.start()

    def __enter__(self) -> FreeRadiusPeer:
        if self.proc is None:
            self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _probe_secret(self) -> str | None:
        """The secret with which this process may send Status-Server, if it may (it sends from
        127.0.0.1: Linux picks that source for every loopback destination)."""
        if not self.status_server:
            return None
        for address, secret in self.clients.items():
            if ipaddress.ip_address(HOST) in ipaddress.ip_network(address, strict=False):
                return secret
        return None

    # -- what it saw

    @property
    def _requests_file(self) -> Path:
        return self.dir / "log" / "requests.detail"

    @property
    def _accounting_file(self) -> Path:
        return self.dir / "log" / "accounting.detail"

    def requests(self) -> list[Record]:
        """Every Access-Request received since this peer was made, oldest first: each is its
        attributes in the order of the packet, as FreeRADIUS printed them (strings unquoted).
        One EAP authentication is several Access-Requests; Status-Server is not logged, nor is a
        request dropped unread (unknown client, no or bad Message-Authenticator)."""
        return read_detail(self._requests_file)

    def requests_seen(self) -> int:
        """How many Access-Requests it handled (locally or by proxying them)."""
        return len(self.requests())

    def last_request(self) -> dict[str, str]:
        """The attributes of the last Access-Request, name → value; the values of an attribute that
        occurs several times (Proxy-State) are joined with ", " in packet order."""
        records = self.requests()
        if not records:
            raise AssertionError(f"no Access-Request reached this FreeRADIUS\n{self.log_tail()}")
        return flatten(records[-1])

    def accounting_requests(self) -> list[Record]:
        """Every Accounting-Request received (answered locally, never proxied)."""
        return read_detail(self._accounting_file)

    def proxied_replies(self) -> list[Record]:
        """Every reply from a home server to what this peer proxied, as received (MS-MPPE keys
        decrypted with the home server's secret), before it is relayed or taken into a tunnel."""
        return read_detail(self.dir / "log" / "proxy-replies.detail")


# --------------------------------------------------------------------------------------------------
# Configuration helpers


def _render(template: str, **values: str) -> str:
    return render(TEMPLATES / template, values)


def _check_config_string(value: str) -> None:
    """Values go inside double quotes of FreeRADIUS's configuration and users file: refuse what would
    end or escape the string (a test author's mistake, not something to quote around)."""
    if any(c in value for c in '"\\\n\r') or not value:
        raise ValueError(f"not usable in a FreeRADIUS configuration: {value!r}")


def _local_part(name: str, realm: str) -> str:
    suffix = f"@{realm}"
    return name[: -len(suffix)] if name.lower().endswith(suffix.lower()) else name


def _write_certificates(directory: Path, server_name: str) -> None:
    """A throwaway CA and a server certificate for PEAP/TTLS: P-256 keys take milliseconds, where
    the stock ``certs/bootstrap`` (RSA, DH parameters) takes seconds to minutes."""
    ca = Authority.create("Sésame interop test CA")
    issued = ca.issue(server_name, dns=(server_name,))
    (directory / "ca.pem").write_bytes(ca.pem)
    (directory / "server.pem").write_bytes(issued.certificate)
    (directory / "server.key").write_bytes(issued.key)


# --------------------------------------------------------------------------------------------------
# Reading what it logged


def read_detail(path: Path) -> list[Record]:
    """The records of a FreeRADIUS ``detail`` file: a header line (the time), then one
    ``\\tName = value`` line per attribute, then a blank line. What the module adds that is not in
    the packet (Packet-Type, Timestamp) is left out."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return []
    records = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines()[1:] if line.startswith("\t")]
        record = []
        for line in lines:
            name, _, value = line.strip().partition(" = ")
            if name not in ("Packet-Type", "Timestamp"):
                record.append((name, _unquote(value)))
        if record:
            records.append(record)
    return records


def flatten(record: Record) -> dict[str, str]:
    """name → value; repeated attributes joined with ", " in packet order."""
    out: dict[str, str] = {}
    for name, value in record:
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", '"': b'"', "\\": b"\\"}


def _unquote(value: str) -> str:
    """A string as FreeRADIUS 3 prints it ("…" with \\" \\\\ \\n \\r \\t and \\ooo octal escapes)
    back to its text; any other value (integer, enum name, 0x… octets, address) as printed."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    body, out, i = value[1:-1], bytearray(), 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            octal = body[i + 1 : i + 4]
            if len(octal) == 3 and all(d in "01234567" for d in octal):
                out.append(int(octal, 8) & 0xFF)
                i += 4
                continue
            if body[i + 1] in _ESCAPES:
                out += _ESCAPES[body[i + 1]]
                i += 2
                continue
        out += c.encode("utf-8", errors="surrogateescape")
        i += 1
    return out.decode("utf-8", errors="backslashreplace")


# --------------------------------------------------------------------------------------------------
# Clients


def radclient_reply(output: str) -> tuple[str, Record] | None:
    """The type and attributes of the reply in radclient's verbose output (None: no reply)."""
    match = re.search(r"^Received (\S+) Id \d+ .*\n((?:\t.*\n?)*)", output, re.MULTILINE)
    if match is None:
        return None
    attributes = []
    for line in match.group(2).splitlines():
        name, _, value = line.strip().partition(" = ")
        attributes.append((name, _unquote(value)))
    return match.group(1), attributes


def eapol_test(workdir: Path, port: int, secret: str, **options: Any) -> str:
    """:func:`tests.support.eapol.eapol_test` with the tool found (or the test skipped) first."""
    return support_eapol_test(workdir, port, secret, binary=need_tool("eapol_test"), **options)
