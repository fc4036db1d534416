"""EAP across the federation, with Sésame terminating EAP itself (issue 15), against real peers.

We are Sud (``wifi.interop.example``). Liguria is played by real servers: FreeRADIUS 3.2 as its
home server (127.0.0.2, terminates PEAP and TTLS for ``mario@liguria.example``), FreeRADIUS as its
federation proxy (127.0.0.3, proxies our realm to Sésame over UDP, EAP untouched) and radsecproxy
(proxies our realm to Sésame over RadSec). eapol_test plays the supplicant behind an access point::

    our citizen roaming in Liguria:
      eapol_test ─► FreeRADIUS proxy (127.0.0.3) ─UDP─► Sésame terminates PEAP / TTLS
      eapol_test ─► radsecproxy (127.0.0.1) ─RadSec─► Sésame terminates PEAP / TTLS
    a Ligurian at our access point:
      eapol_test ─► Sésame ─UDP─► FreeRADIUS home (127.0.0.2) terminates PEAP / TTLS

``MPPE keys OK: 1  mismatch: 0`` is eapol_test comparing the keys it derived from its TLS session
with the MS-MPPE keys its access point received. Roaming, Sésame hides them with the partner's
secret and the partner's proxy re-hides them for its access point: the comparison proves both
steps, and that Sésame keyed them from the same TLS session as the supplicant.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from radius.eap.trialpki import make_trial_pki
from tests.federation.pki import Authority
from tests.interop.conftest import PASSWORD, REALM, SECRET, Server, launch, need_tool, wait_until_served
from tests.interop.peers import FreeRadiusPeer, eapol_test
from tests.interop.test_federation_radsec import (
    HOME_SECRET,
    LIGURIA,
    LIGURIA_NAME,
    LIGURIA_NAS_SECRET,
    MARIO_PASSWORD,
    PARTNER_SECRET,
    PROXY_SOURCE,
    SESAME_SOURCE,
    SUD_NAME,
    RadSecProxy,
    wait_loaded,
)
from tests.support.ports import free_tcp_port, free_udp_port

pytestmark = pytest.mark.slow

SERVER_NAME = f"radius.{REALM}"
FREERADIUS_PROXY = "127.0.0.3"
#: eapol_test's -N syntax: ask for a Chargeable-User-Identity (RFC 4372 §2.1: one NUL octet)
ASK_CUI = "89:x:00"
T = TypeVar("T")


@dataclass
class Federation:
    sesame: Server
    home: FreeRadiusPeer  # Liguria's home server (terminates Ligurians' EAP)
    proxy: FreeRadiusPeer  # Liguria's federation proxy (UDP to Sésame)
    radsecproxy: RadSecProxy  # Liguria's RadSec proxy (to Sésame's RadSec listener)
    radsecproxy_udp: int  # where radsecproxy takes RADIUS from Liguria's access points
    pki: Path  # Sésame's EAP trial PKI
    database: Path
    workdir: Path

    def decisions(self, user: str, after: int = 0) -> list[dict[str, object]]:
        """Sésame's decision records naming ``user``, oldest first, with id above ``after``."""

        def read() -> list[dict[str, object]]:
            with sqlite3.connect(self.database) as db:
                db.row_factory = sqlite3.Row
                rows = db.execute(
                    "SELECT id, username, reply, method, reason, nasipaddress, nas_id, account_id "
                    "FROM radpostauth WHERE username LIKE ? AND id > ? ORDER BY id",
                    (f"%{user}%", after),
                ).fetchall()
            return [dict(row) for row in rows]

        return settled(read)

    def last_decision_id(self) -> int:
        def read() -> int:
            with sqlite3.connect(self.database) as db:
                return int(db.execute("SELECT coalesce(max(id), 0) FROM radpostauth").fetchone()[0])

        return settled(read, empty_ok=True)


def settled(read: Callable[[], T], *, empty_ok: bool = False) -> T:
    """What ``read`` returns once it returns the same twice 0.3 s apart (at most 10 s): decision
    records are written every 0.1 s, later on a busy machine."""
    value, deadline = read(), time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.3)
        again = read()
        if again == value and (again or empty_ok):
            break
        value = again
    return value


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    for tool in ("radclient", "freeradius", "radsecproxy", "eapol_test"):
        need_tool(tool)
    workdir = tmp_path_factory.mktemp("eap-federation")
    ca = Authority.create("Sesame federation test CA")
    sud = ca.files(workdir / "radsec-pki", "sud", ca.issue(SUD_NAME, dns=(SUD_NAME,)))
    liguria = ca.files(workdir / "radsec-pki", "liguria", ca.issue("liguria", dns=(LIGURIA_NAME,)))
    eap_pki = make_trial_pki(workdir / "eap-pki", realm=REALM)
    database = workdir / "federation.db"
    home = FreeRadiusPeer(
        workdir / "liguria-home",
        host="127.0.0.2",
        users={"mario": MARIO_PASSWORD},
        eap=True,
        clients={SESAME_SOURCE: PARTNER_SECRET, PROXY_SOURCE: HOME_SECRET},
    )
    radsec_port, tls_port, udp_port = free_tcp_port(), free_tcp_port(), free_udp_port()
    with contextlib.ExitStack() as stack:
        stack.enter_context(home)
        sesame = launch(
            workdir,
            f"sqlite:///{database}",
            SESAME_FEDERATION_ENABLED="true",
            SESAME_FEDERATION_RESPONSE_WINDOW="1.5",
            SESAME_FEDERATION_RETRY_INTERVAL="0.5",
            SESAME_FEDERATION_RETRIES="1",
            SESAME_FEDERATION_CHECK_INTERVAL="0.5",
            SESAME_FEDERATION_ANSWERS_TO_ALIVE="2",
            SESAME_FEDERATION_SOURCE_ADDRESS=SESAME_SOURCE,
            SESAME_FEDERATION_RADSEC_BIND="127.0.0.1",
            SESAME_FEDERATION_RADSEC_PORT=str(radsec_port),
            SESAME_FEDERATION_RADSEC_CERTIFICATE=str(sud.certificate),
            SESAME_FEDERATION_RADSEC_PRIVATE_KEY=str(sud.private_key),
            SESAME_FEDERATION_RADSEC_CA=str(sud.ca),
            SESAME_POLICY_SESSION_TIMEOUT="3600",
            SESAME_EAP_CERTIFICATE=str(eap_pki.server_certificate),
            SESAME_EAP_PRIVATE_KEY=str(eap_pki.server_key),
        )
        stack.callback(_stop, sesame)
        proxy = FreeRadiusPeer(
            workdir / "liguria-proxy",
            host=FREERADIUS_PROXY,
            clients={"127.0.0.1": LIGURIA_NAS_SECRET, SESAME_SOURCE: PARTNER_SECRET},
            proxy_realms={REALM: ("127.0.0.1", sesame.auth_port, PARTNER_SECRET)},
        )
        stack.enter_context(proxy)
        sesame.cli("commune", "add", "Nice", "--insee", "06088")
        sesame.cli("site", "add", "Promenade", "--commune", "Nice")
        sesame.cli("nas", "add", "ap-nice", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Promenade")
        sesame.cli(
            "partner", "add", "liguria", "--realm", LIGURIA,
            "--server", f"127.0.0.2:{home.auth_port}", "--secret", PARTNER_SECRET,
        )  # fmt: skip
        sesame.cli(
            "partner", "server", "add", "liguria", f"{FREERADIUS_PROXY}:{proxy.auth_port}",
            "--secret", PARTNER_SECRET, "--priority", "10",
        )  # fmt: skip
        sesame.cli(
            "partner", "server", "add", "liguria", f"127.0.0.1:{tls_port}",
            "--radsec", "--tls-name", LIGURIA_NAME, "--priority", "20",
        )  # fmt: skip
        wait_until_served(sesame)
        wait_loaded(sesame, partners=1, servers=3)
        radsecproxy = RadSecProxy(
            workdir / "radsecproxy",
            liguria,
            tls_port=tls_port,
            udp_port=udp_port,
            home_port=home.auth_port,
            sesame_port=radsec_port,
            source=PROXY_SOURCE,
        )
        stack.enter_context(radsecproxy)
        yield Federation(
            sesame=sesame,
            home=home,
            proxy=proxy,
            radsecproxy=radsecproxy,
            radsecproxy_udp=udp_port,
            pki=workdir / "eap-pki",
            database=database,
            workdir=workdir,
        )


def _stop(sesame: Server) -> None:
    sesame.proc.terminate()
    sesame.proc.wait(timeout=30)
    print(f"--- sesame log ---\n{sesame.log.read_text()[-6000:]}")


@dataclass
class Citizen:
    name: str
    device_password: str  # one device's credential (MS-CHAPv2)

    @property
    def identity(self) -> str:
        return f"{self.name}@{REALM}"


@pytest.fixture
def citizen(federation: Federation) -> Citizen:
    name = f"c{secrets.token_hex(4)}"
    federation.sesame.cli("user", "add", name, "--email", f"{name}@example.fr", "--password", PASSWORD)
    device = federation.sesame.cli("credential", "add", name, "--label", "phone").strip().splitlines()[-1]
    return Citizen(name=name, device_password=device)


def roam(fed: Federation, via: str, citizen: Citizen, method: str, *attributes: str) -> str:
    """eapol_test behind one of Liguria's access points: ``via`` "udp" (the FreeRADIUS proxy) or
    "radsec" (radsecproxy); Sésame's EAP server certificate pinned as a well-configured device has it."""
    host, port = (FREERADIUS_PROXY, fed.proxy.auth_port)
    if via == "radsec":
        host, port = "127.0.0.1", fed.radsecproxy_udp
    password = citizen.device_password if "MSCHAPV2" in method or method == "PEAP" else PASSWORD
    return eapol_test(
        fed.workdir,
        port,
        LIGURIA_NAS_SECRET,
        host=host,
        identity=citizen.identity,
        password=password,
        method=method,
        ca_cert=fed.pki / "ca.pem",
        server_name=SERVER_NAME,
        attributes=attributes,
    )


def at_home(fed: Federation, citizen: Citizen, method: str, *attributes: str) -> str:
    """The same supplicant at one of our own access points (straight to Sésame)."""
    password = citizen.device_password if "MSCHAPV2" in method or method == "PEAP" else PASSWORD
    return eapol_test(
        fed.workdir,
        fed.sesame.auth_port,
        SECRET,
        identity=citizen.identity,
        password=password,
        method=method,
        ca_cert=fed.pki / "ca.pem",
        server_name=SERVER_NAME,
        attributes=attributes,
    )


def succeeded(output: str) -> bool:
    return output.rstrip().endswith("SUCCESS")


def keys_match(output: str) -> bool:
    return "MPPE keys OK: 1  mismatch: 0" in output


def reply_attribute(output: str, number: int) -> str | None:
    """The value of attribute ``number`` in the Access-Accept eapol_test received, as it prints it
    (strings unquoted), or None when the Accept has none."""
    accept = output.rpartition("(Access-Accept)")[2]
    found = re.search(rf"^   Attribute {number} \(.*\n      Value: '?([^'\n]*)'?$", accept, re.MULTILINE)
    return found.group(1) if found else None


def fticks(fed: Federation) -> list[str]:
    return re.findall(r"F-TICKS/\S+", fed.sesame.log.read_text())


def relayed_by_radsecproxy(fed: Federation, identity: str) -> int:
    """Access-Requests for ``identity`` radsecproxy took from Liguria's access points (its log)."""
    return fed.radsecproxy.text().count(f"with username: {identity} from client access-points")


LABELS = {"PEAP": "peap/mschapv2", "TTLS": "eap-ttls/pap", "TTLS-EAPMSCHAPV2": "eap-ttls/eap-mschapv2"}


# -- 1. our citizen roaming in Liguria: Sésame terminates EAP behind Liguria's proxies ---------------


@pytest.mark.parametrize("via", ["udp", "radsec"])
@pytest.mark.parametrize("method", ["PEAP", "TTLS", "TTLS-EAPMSCHAPV2"])
def test_our_citizen_roaming_in_liguria_is_authenticated_here(
    federation: Federation, citizen: Citizen, via: str, method: str
) -> None:
    fed = federation
    before, seen = fed.last_decision_id(), fed.proxy.requests_seen()
    relayed = relayed_by_radsecproxy(fed, citizen.identity)
    out = roam(fed, via, citizen, method)
    assert succeeded(out) and keys_match(out), out[-3000:] + fed.sesame.log.read_text()[-3000:]
    # it did go through that partner proxy: every round of the conversation
    rounds = out.count("(Access-Challenge)") + 1
    if via == "udp":
        assert fed.proxy.requests_seen() == seen + rounds
    else:
        assert fed.proxy.requests_seen() == seen
        assert relayed_by_radsecproxy(fed, citizen.identity) == relayed + rounds
    # one decision for the conversation, not one per round: the inner identity, the method, and
    # the partner as the NAS (its proxy's address; no access point of ours)
    (decision,) = fed.decisions(citizen.name, after=before)
    assert decision["username"] == citizen.identity
    assert (decision["reply"], decision["method"], decision["reason"]) == (
        "Access-Accept",
        LABELS[method],
        "accepted",
    )
    assert decision["nasipaddress"] == (FREERADIUS_PROXY if via == "udp" else "127.0.0.1")
    assert decision["nas_id"] is None and decision["account_id"] is not None
    # our policy, not Liguria's (FreeRADIUS would add Reply-Message "Benvenuto" to its own users)
    assert reply_attribute(out, 27) == "3600"  # Session-Timeout


@pytest.mark.parametrize("via", ["udp", "radsec"])
def test_a_wrong_credential_roaming_is_refused_here_and_the_refusal_relayed(
    federation: Federation, citizen: Citizen, via: str
) -> None:
    fed = federation
    before = fed.last_decision_id()
    wrong = Citizen(name=citizen.name, device_password=citizen.device_password + "x")
    out = roam(fed, via, wrong, "PEAP")
    assert not succeeded(out) and "(Access-Reject)" in out, out[-3000:]
    assert "CTRL-EVENT-EAP-FAILURE" in out  # the EAP-Failure reached the supplicant through the proxy
    (decision,) = fed.decisions(citizen.name, after=before)
    assert (decision["reply"], decision["method"], decision["reason"]) == (
        "Access-Reject",
        "peap/mschapv2",
        "bad_password",  # the inner method's reason: the wrong response of a known account
    )
    assert fticks(fed)[-1].endswith("#RESULT=FAIL#")


def test_chargeable_user_identity_is_the_partners_own_and_only_when_asked(
    federation: Federation, citizen: Citizen
) -> None:
    """RFC 4372: a CUI answers a request for one; Liguria's proxies relay the request and the answer.
    Each partner gets its own name for the citizen, stable, that is not our access points' one."""
    fed = federation
    by_proxy = reply_attribute(roam(fed, "udp", citizen, "PEAP", ASK_CUI), 89)
    by_radsec = reply_attribute(roam(fed, "radsec", citizen, "TTLS", ASK_CUI), 89)
    local = reply_attribute(at_home(fed, citizen, "PEAP", ASK_CUI), 89)
    assert by_proxy and local, (by_proxy, local)
    assert by_proxy == by_radsec  # the same partner, whatever the path and the method
    assert by_proxy != local and citizen.name not in by_proxy
    again = reply_attribute(roam(fed, "udp", citizen, "TTLS-EAPMSCHAPV2", ASK_CUI), 89)
    assert again == by_proxy  # stable
    assert reply_attribute(roam(fed, "udp", citizen, "PEAP"), 89) is None  # not asked, not sent


def test_the_partners_operator_name_names_the_visited_institution_once_per_conversation(
    federation: Federation, citizen: Citizen
) -> None:
    """As for PAP: an F-Ticks line for each authentication of a citizen roaming at a partner, with
    the partner's Operator-Name (RFC 5580) as VISINST, else the partner's name; none per round."""
    fed = federation
    logged = len(fticks(fed))
    out = roam(fed, "udp", citizen, "PEAP", "126:s:1hotspots.liguria.example")
    assert succeeded(out), out[-3000:]
    assert out.count("(Access-Challenge)") > 3
    lines = fticks(fed)[logged:]
    assert len(lines) == 1, lines
    assert f"#REALM={REALM}#VISCOUNTRY=#VISINST=hotspots.liguria.example#" in lines[0]
    assert lines[0].endswith("#RESULT=OK#")
    out = roam(fed, "radsec", citizen, "TTLS")
    assert succeeded(out), out[-3000:]
    lines = fticks(fed)[logged + 1 :]
    assert len(lines) == 1 and "#VISINST=liguria#" in lines[0], lines


# -- 2. a Ligurian at our access point: Sésame proxies, FreeRADIUS terminates -------------------------


@pytest.mark.parametrize("method", ["PEAP", "TTLS"])
def test_a_ligurian_at_our_access_point_is_authenticated_by_liguria(
    federation: Federation, method: str
) -> None:
    """Sésame serves EAP itself, yet a partner's realm is routed first: the whole conversation goes
    to Liguria's home server, which terminates it; the keys reach our access point re-hidden."""
    fed = federation
    mario = f"mario@{LIGURIA}"
    before, seen = fed.last_decision_id(), fed.home.requests_seen()
    out = eapol_test(
        fed.workdir,
        fed.sesame.auth_port,
        SECRET,
        identity=mario,
        anonymous_identity=f"anonymous@{LIGURIA}",
        password=MARIO_PASSWORD,
        method=method,
        ca_cert=fed.home.ca_cert,
        server_name=fed.home.server_name,
    )
    assert succeeded(out) and keys_match(out), out[-3000:]
    assert fed.home.requests_seen() == seen + out.count("(Access-Challenge)") + 1
    assert reply_attribute(out, 27) == "3600"  # our stricter Session-Timeout over Liguria's 7200
    (decision,) = fed.decisions(f"anonymous@{LIGURIA}", after=before)
    assert (decision["reply"], decision["method"], decision["reason"]) == (
        "Access-Accept",
        "proxy",
        "proxied:liguria",
    )
    wrong = eapol_test(
        fed.workdir,
        fed.sesame.auth_port,
        SECRET,
        identity=mario,
        password="wrong",
        method=method,
        ca_cert=fed.home.ca_cert,
        server_name=fed.home.server_name,
    )
    assert not succeeded(wrong) and "(Access-Reject)" in wrong, wrong[-3000:]
