"""Reading a NetworkManager keyfile back, two ways: configparser with GKeyFile's escapes undone
(what the end-to-end test builds its ``eapol_test`` configuration from), and NetworkManager's own
reader, libnm's ``nm_keyfile_read`` with ``nm_connection_verify``, through the system Python's
GObject bindings (Debian ``python3-gi`` and ``gir1.2-nm-1.0``: no daemon needed)."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from typing import Any

_ESCAPES = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def unescape(value: str) -> str:
    """A GKeyFile string value as ``g_key_file_get_string`` returns it."""
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), value)


def read_keyfile(data: bytes) -> dict[str, dict[str, str]]:
    """Sections and their keys (case kept, values unescaped); a section or key given twice is
    an error (``strict``), as a keyfile with injected lines would have them."""
    parser = configparser.ConfigParser(
        interpolation=None, delimiters=("=",), comment_prefixes=("#",), strict=True
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(data.decode("utf-8"))
    return {name: {k: unescape(v) for k, v in parser[name].items()} for name in parser.sections()}


SYSTEM_PYTHON = "/usr/bin/python3"

_LIBNM = r"""
import json, sys
import gi
gi.require_version("NM", "1.0")
from gi.repository import GLib, NM
data = sys.stdin.buffer.read()
keyfile = GLib.KeyFile()
keyfile.load_from_data(data.decode(), len(data), GLib.KeyFileFlags.NONE)
connection = NM.keyfile_read(keyfile, "/nonexistent", NM.KeyfileHandlerFlags.NONE, None, None)
connection.normalize()
connection.verify()
x = connection.get_setting_802_1x()
wifi = connection.get_setting_wireless()
blob = lambda b: None if b is None else bytes(b.get_data()).hex()
print(json.dumps({
    "id": connection.get_id(),
    "uuid": connection.get_uuid(),
    "ssid": bytes(wifi.get_ssid().get_data()).hex(),
    "key_mgmt": connection.get_setting_wireless_security().get_key_mgmt(),
    "eap": [x.get_eap_method(i) for i in range(x.get_num_eap_methods())],
    "identity": x.get_identity(),
    "anonymous_identity": x.get_anonymous_identity(),
    "password": x.get_password(),
    "domain_match": x.get_domain_match(),
    "domain_suffix_match": x.get_domain_suffix_match(),
    "phase2_auth": x.get_phase2_auth(),
    "phase2_autheap": x.get_phase2_autheap(),
    "ca_cert": blob(x.get_ca_cert_blob()) if x.get_ca_cert_scheme() == NM.Setting8021xCKScheme.BLOB else None,
    "client_cert_scheme": x.get_client_cert_scheme().value_nick,
    "private_key_scheme": x.get_private_key_scheme().value_nick,
    "private_key_format": x.get_private_key_format().value_nick,
    "private_key_password": x.get_private_key_password(),
}))
"""


def libnm_available() -> bool:
    if shutil.which(SYSTEM_PYTHON) is None:
        return False
    probe = "import gi; gi.require_version('NM', '1.0'); from gi.repository import NM"
    return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=60).returncode == 0


def libnm_read(data: bytes) -> dict[str, Any]:
    """What NetworkManager reads from ``data`` (it raises, and this fails, on a keyfile it refuses)."""
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", _LIBNM], input=data, capture_output=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise ValueError(f"libnm refused the keyfile: {done.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
