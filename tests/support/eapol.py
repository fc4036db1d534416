"""Running wpa_supplicant's ``eapol_test`` (Debian ``eapoltest``) once: shared by the interop tests
(tests/interop/peers.py, which skips or fails when the tool is missing) and the EAP benchmark
(bench/eap_bench.py, which checks its own load generator against it)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

HOST = "127.0.0.1"


def eapol_test(
    workdir: Path,
    port: int,
    secret: str,
    *,
    identity: str,
    password: str = "",
    anonymous_identity: str | None = None,
    method: str = "PEAP",
    ca_cert: Path | None = None,
    server_name: str | None = None,
    attributes: Sequence[str] = (),
    host: str = HOST,
    timeout: float = 10.0,
    tls: str | None = None,
    client_cert: Path | None = None,
    private_key: Path | None = None,
    fragment_size: int | None = None,
    reauthentications: int = 0,
    mac: str | None = None,
    binary: str = "eapol_test",
) -> str:
    """Run wpa_supplicant's ``eapol_test`` (Debian ``eapoltest``) once; its output ends with SUCCESS
    or FAILURE. ``method``: PEAP (inner EAP-MSCHAPv2), TTLS (inner PAP), TTLS-MSCHAPV2,
    TTLS-EAPMSCHAPV2 (inner EAP-MSCHAPv2) or TLS (``client_cert`` and ``private_key``).
    ``attributes``: extra RADIUS attributes in eapol_test's ``-N`` syntax, e.g. ``"89:x:00"`` (ask
    for a Chargeable-User-Identity, RFC 4372) or ``"126:s:1wifi.example"`` (Operator-Name).
    ``tls``: "1.2" or "1.3" to allow only that version; ``fragment_size``: the client's TLS
    fragments; ``reauthentications``: authenticate again that many times (TLS resumption);
    ``mac``: the device's MAC address, sent as Calling-Station-Id (eapol_test's own by default);
    ``binary``: the path of eapol_test."""
    outer, _, inner = method.upper().partition("-")
    phase2 = {
        ("PEAP", ""): "auth=MSCHAPV2",
        ("TTLS", ""): "auth=PAP",
        ("TTLS", "MSCHAPV2"): "auth=MSCHAPV2",
        ("TTLS", "EAPMSCHAPV2"): "autheap=MSCHAPV2",
        ("TLS", ""): "",
    }
    if (outer, inner) not in phase2:
        raise ValueError(f"unknown method {method!r}")
    lines = ["key_mgmt=WPA-EAP", f"eap={outer}", f'identity="{identity}"']
    if outer != "TLS":
        lines += [f'password="{password}"', f'phase2="{phase2[outer, inner]}"']
    phase1 = []
    if tls == "1.2":
        phase1.append("tls_disable_tlsv1_3=1")
    elif tls == "1.3":
        phase1 += [
            "tls_disable_tlsv1_0=1",
            "tls_disable_tlsv1_1=1",
            "tls_disable_tlsv1_2=1",
            "tls_disable_tlsv1_3=0",
        ]
    if phase1:
        lines.append(f'phase1="{" ".join(phase1)}"')
    if anonymous_identity:
        lines.append(f'anonymous_identity="{anonymous_identity}"')
    if ca_cert:
        lines.append(f'ca_cert="{ca_cert}"')
    if server_name:
        lines.append(f'domain_match="{server_name}"')
    if client_cert:
        lines.append(f'client_cert="{client_cert}"')
    if private_key:
        lines.append(f'private_key="{private_key}"')
    if fragment_size:
        lines.append(f"fragment_size={fragment_size}")
    config = workdir / f"eapol-{method.lower()}-{os.getpid()}-{time.monotonic_ns()}.conf"
    config.write_text("network={\n" + "".join(f"\t{line}\n" for line in lines) + "}\n")
    return run_eapol_test(
        config,
        port,
        secret,
        host=host,
        timeout=timeout,
        mac=mac,
        reauthentications=reauthentications,
        attributes=attributes,
        binary=binary,
    )


def run_eapol_test(
    config: Path,
    port: int,
    secret: str,
    *,
    host: str = HOST,
    timeout: float = 10.0,
    mac: str | None = None,
    reauthentications: int = 0,
    attributes: Sequence[str] = (),
    binary: str = "eapol_test",
) -> str:
    """``eapol_test`` once with a configuration file written by the caller (its output ends with
    SUCCESS or FAILURE); the options as for :func:`eapol_test`."""
    done = subprocess.run(
        [
            binary,
            "-c",
            str(config),
            "-a",
            host,
            "-p",
            str(port),
            "-s",
            secret,
            "-t",
            str(int(timeout)),
            *([f"-M{mac}"] if mac else []),
            *([f"-r{reauthentications}"] if reauthentications else []),
            *(f"-N{attribute}" for attribute in attributes),
        ],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
    )
    return done.stdout + done.stderr
