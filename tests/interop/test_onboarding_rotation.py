"""A change of the server's CA, end to end (docs/onboarding.md, "Certificates: what to buy, what to
make, how to rotate"): ``SESAME_EAP_CA`` holds today's CA and the next one; a citizen's profiles
are made while the server's certificate comes from today's CA; then the server switches to a
certificate of the next CA — written over the files while ``sesame serve`` runs, taken in by its
certificate watch — and each profile is tried again through ``eapol_test`` (SUCCESS, MPPE keys
matching), its fields mapped as the platform's supplicant gets them:

* the ChromeOS ONC file pins both CAs (shill writes them to one PEM file): it still authenticates;
* the NetworkManager keyfile pins today's CA alone (NetworkManager hands ``ca-cert`` to
  wpa_supplicant as a blob, of which wpa_supplicant reads one certificate — shown here with a
  PEM bundle: as a file both CAs work, as a ``blob://`` only the first): it fails after the switch,
  as docs/onboarding.md says — and a keyfile made after the switch works again. That failure is
  also what proves the test can fail.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from portal.onboarding import linux
from portal.onboarding.spec import PasswordCredential
from radius.eap.trialpki import Issued, make_ca, make_server, make_trial_pki, write
from tests.interop.conftest import REALM, SECRET, launch, need_tool, wait_until_served
from tests.interop.test_eap import SERVER_NAME, Eap, keys_match, succeeded
from tests.interop.test_onboarding_e2e import (
    SECRET_KEY,
    SSID,
    citizen,
    eapol_config,
    issue_device_credential,
    onc_eapol_config,
    spec_for,
)
from tests.support.eapol import run_eapol_test

pytestmark = pytest.mark.slow


@dataclasses.dataclass(frozen=True)
class Rotation:
    """The running server, its certificate files, and the next CA."""

    eap: Eap
    server_certificate: Path
    server_key: Path
    next_ca: Issued


@pytest.fixture(scope="module")
def rotation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rotation]:
    need_tool("eapol_test")  # fails in CI, skips on a workstation
    workdir = tmp_path_factory.mktemp("rotation")
    pki = workdir / "pki"
    files = make_trial_pki(pki, realm=REALM)
    next_ca = make_ca(f"{REALM} RADIUS CA 2027 (test)", organisation=REALM)
    # step 1 of the procedure: the next CA is added beside today's, before any switch
    bundle = write(pki / "cas.pem", files.ca.read_bytes() + next_ca.certificate_pem())
    database = workdir / "eap.db"
    srv = launch(
        workdir,
        f"sqlite:///{database}",
        SESAME_EAP_CERTIFICATE=str(files.server_certificate),
        SESAME_EAP_PRIVATE_KEY=str(files.server_key),
        SESAME_EAP_DEVICE_CA=str(files.device_ca),
        SESAME_EAP_CA=str(bundle),
        SESAME_SECRET_KEY=SECRET_KEY,
    )
    try:
        srv.cli("commune", "add", "Valence", "--insee", "26362")
        srv.cli("site", "add", "Médiathèque", "--commune", "Valence")
        srv.cli("nas", "add", "local-ap", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Médiathèque")
        wait_until_served(srv)
        yield Rotation(
            Eap(sesame=srv, pki=pki, database=database), files.server_certificate, files.server_key, next_ca
        )
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def as_blob(config: Path) -> Path:
    """The same network block with ``ca_cert`` given as a wpa_supplicant blob, as NetworkManager
    gives the keyfile's blob to wpa_supplicant (over D-Bus ``AddBlob``), not as a file."""
    text = config.read_text()
    path = re.search(r'^\tca_cert="([^"]+)"$', text, re.M)
    assert path is not None, text
    data = base64.b64encode(Path(path.group(1)).read_bytes()).decode()
    lines = "\n".join(data[i : i + 64] for i in range(0, len(data), 64))
    blob = config.with_name(f"blob-{secrets.token_hex(4)}.conf")
    blob.write_text(
        f"blob-base64-pinned={{\n{lines}\n}}\n\n" + text.replace(path.group(0), '\tca_cert="blob://pinned"')
    )
    return blob


def connect(rotation: Rotation, config: Path) -> str:
    srv = rotation.eap.sesame
    return run_eapol_test(config, srv.auth_port, SECRET, binary=need_tool("eapol_test"))


def switch_to_the_next_ca(rotation: Rotation) -> None:
    """Step 3: the server's certificate and key from the next CA, written in place as an operator
    (or a deployment tool) does; wait for the running server's watch to take them in."""
    log = rotation.eap.sesame.log
    before = log.read_text(errors="replace").count("eap: certificates reloaded from")
    issued = make_server(rotation.next_ca, SERVER_NAME)
    rotation.server_certificate.write_bytes(issued.certificate_pem())
    rotation.server_key.write_bytes(issued.key_pem())
    deadline = time.monotonic() + 30
    while log.read_text(errors="replace").count("eap: certificates reloaded from") == before:
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.5)


def test_profiles_made_before_the_switch_across_it(rotation: Rotation) -> None:
    eap = rotation.eap
    name = citizen(eap)
    credential = PasswordCredential(
        username=f"{name}@{REALM}",
        password=issue_device_credential(eap, name)[1],
        inner="mschapv2",  # ONC's TTLS has no EAP-MSCHAPv2
    )
    next_der = rotation.next_ca.certificate.public_bytes(Encoding.DER)
    before = dataclasses.replace(spec_for(eap, credential), other_cas_der=(next_der,))
    workdir = eap.sesame.workdir
    keyfile = eapol_config(linux.keyfile(before, SSID), workdir)
    onc = onc_eapol_config(linux.onc(before), workdir)
    # what a keyfile holding a PEM bundle would give wpa_supplicant: the bundle, as a file and as a blob
    bundle = workdir / f"bundle-{secrets.token_hex(4)}.pem"
    bundle.write_bytes(
        (eap.pki / "ca.pem").read_bytes() + rotation.next_ca.certificate.public_bytes(Encoding.PEM)
    )
    bundle_file = re.sub(r'(?m)^\tca_cert="[^"]+"$', f'\tca_cert="{bundle}"', keyfile.read_text())
    bundle_as_file = workdir / f"bundle-file-{secrets.token_hex(4)}.conf"
    bundle_as_file.write_text(bundle_file)
    configs = {
        "ONC": onc,
        "keyfile": keyfile,
        "bundle as a file": bundle_as_file,
        "bundle as a blob": as_blob(bundle_as_file),
    }
    for what, config in configs.items():  # before the switch: every one of them
        out = connect(rotation, config)
        assert succeeded(out) and keys_match(out), (what, out[-3000:])

    switch_to_the_next_ca(rotation)

    for what in ("ONC", "bundle as a file"):
        out = connect(rotation, configs[what])
        assert succeeded(out) and keys_match(out), (what, out[-3000:])
    for what in ("keyfile", "bundle as a blob"):
        out = connect(rotation, configs[what])
        assert not succeeded(out), (what, out[-3000:])
        assert "unknown CA" in out or "certificate verify failed" in out, (what, out[-3000:])

    # the profile downloaded again after the switch pins the next CA, today's now
    after = dataclasses.replace(before, ca_der=next_der, other_cas_der=(before.ca_der,))
    out = connect(rotation, eapol_config(linux.keyfile(after, SSID), workdir))
    assert succeeded(out) and keys_match(out), out[-3000:]
