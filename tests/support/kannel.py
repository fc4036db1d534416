"""A real Kannel for the SMS tests (issue 19): ``bearerbox`` and ``smsbox`` (Debian ``kannel``) and
``fakesmsc`` (Debian ``kannel-extras``, in /usr/lib/kannel/test/), on free 127.0.0.1 ports with a
``kannel.conf`` written in a temporary folder.

``fakesmsc`` plays the operator's SMS centre: bearerbox delivers to it every SMS smsbox's
``sendsms`` took, and it prints each one as ``Got message N: <from to text message>``, which
:meth:`Kannel.messages` reads back. Without the packages a test is skipped on a workstation and
fails in CI (``CI=true``).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.support.ports import free_tcp_port

FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
USERNAME = "sesame"
PASSWORD = "kannel-sendsms-secret"
_GOT = re.compile(r"Got message \d+: <(\S+) (\S+) text (.*)>$")


def need_kannel() -> tuple[str, str, str]:
    bearerbox, smsbox = shutil.which("bearerbox"), shutil.which("smsbox")
    if bearerbox is None or smsbox is None or not FAKESMSC.is_file():
        message = "Kannel is needed (Debian kannel and kannel-extras: bearerbox, smsbox, fakesmsc)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return bearerbox, smsbox, str(FAKESMSC)


@dataclass(frozen=True, slots=True)
class Received:
    sender: str
    to: str
    text: str


@dataclass
class Kannel:
    sendsms_url: str
    fakesmsc_log: Path

    def messages(self) -> list[Received]:
        """Every SMS fakesmsc received so far."""
        found = []
        for line in self.fakesmsc_log.read_text(errors="replace").splitlines():
            match = _GOT.search(line)
            if match:
                found.append(Received(*match.groups()))
        return found

    def wait_for(self, to: str, *, after: int = 0, timeout: float = 20.0) -> Received:
        """The first SMS to ``to`` past the first ``after`` received (polls fakesmsc's output)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages()[after:]:
                if message.to == to:
                    return message
            time.sleep(0.1)
        raise AssertionError(f"fakesmsc received no SMS to {to}: {self.messages()}")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_listening(port: int, what: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if _listening(port):
            return
        if any(p.poll() is not None for p in processes):
            break
        time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on 127.0.0.1:{port}")


@contextmanager
def running_kannel(workdir: Path) -> Iterator[Kannel]:
    bearerbox, smsbox, fakesmsc = need_kannel()
    admin, box, smsc, sendsms = (free_tcp_port() for _ in range(4))
    conf = workdir / "kannel.conf"
    conf.write_text(
        f"""group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = kannel-admin-secret
admin-allow-ip = "127.0.0.1"
smsbox-port = {box}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "{workdir / "bearerbox.log"}"
log-level = 1

group = smsc
smsc = fake
smsc-id = fake
host = 127.0.0.1
port = {smsc}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{workdir / "smsbox.log"}"
log-level = 1

group = sendsms-user
username = {USERNAME}
password = {PASSWORD}
user-allow-ip = "127.0.0.1"

group = sms-service
keyword = default
text = "No service here"
"""
    )
    processes: list[subprocess.Popen[bytes]] = []
    log = workdir / "fakesmsc.log"
    try:
        for name, command in (("bearerbox", [bearerbox, str(conf)]), ("smsbox", [smsbox, str(conf)])):
            out = (workdir / f"{name}.out").open("wb")
            processes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir))
            _wait_listening(box if name == "bearerbox" else sendsms, name, processes)
        with log.open("wb") as out:
            # -m 0: generate no message of its own, only print what it receives
            command = [fakesmsc, "-H", "127.0.0.1", "-r", str(smsc), "-m", "0", "-i", "1", "1 2 text x"]
            processes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir))
        deadline = time.monotonic() + 20
        while "Connecting" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.1)
        yield Kannel(sendsms_url=f"http://127.0.0.1:{sendsms}/cgi-bin/sendsms", fakesmsc_log=log)
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
