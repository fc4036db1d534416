"""deploy/install run for real, as root, on this machine: a real system user, a real virtual
environment, real files and modes, a real PostgreSQL role and database on the local cluster, and
systemd units checked by ``systemd-analyze verify``.

So as never to touch a real installation, the directories are under a temporary root in /var/tmp
and the user, role and database have names of their own; everything is removed afterwards. There
is no systemd PID 1 here: the installed service is started the way its unit says (user, group,
working directory, environment file, ExecStartPre then ExecStart), by this test, and asked over
RADIUS and HTTP. The sandboxing options of the units are checked for syntax, not enforced.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI
from tests.deploy.conftest import DEPLOY, need_program
from tests.interop.conftest import radclient, received
from tests.support.ports import free_tcp_port, free_udp_port
from tests.support.processes import stop

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

UNITS = ("sesame.service", "sesame-retention.service", "sesame-retention.timer")
REALM = "wifi.install.example"
SECRET = "install-test-secret"
PASSWORD = "correct horse battery"


@dataclass
class Installed:
    root: Path
    user: str
    database: str
    output: str

    @property
    def prefix(self) -> Path:
        return self.root / "opt" / "sesame"

    @property
    def config(self) -> Path:
        return self.root / "etc" / "sesame"

    @property
    def state(self) -> Path:
        return self.root / "var" / "lib" / "sesame"

    @property
    def units(self) -> Path:
        return self.root / "etc" / "systemd" / "system"

    def options(self, *, config: Path | None = None, units: Path | None = None) -> list[str]:
        return [
            *("--prefix", str(self.prefix), "--config-dir", str(config or self.config)),
            *("--state-dir", str(self.state), "--unit-dir", str(units or self.units), "--user", self.user),
        ]


def install(*args: str) -> str:
    done = subprocess.run(
        [str(DEPLOY / "install"), *args], capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def as_postgres(sql: str) -> str:
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1"],
        input=sql,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def environment_file(path: Path) -> dict[str, str]:
    """An EnvironmentFile= as systemd reads these simple ones: KEY=VALUE lines, # comments."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line and line[0] != "#")
    return {pair[0]: pair[1] for pair in pairs}


def unit_service(path: Path) -> dict[str, list[str]]:
    """The [Service] section of a unit: every value of each key, in order."""
    section, values = "", dict[str, list[str]]()
    for line in path.read_text().splitlines():
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def connects_as(url: str) -> str:
    done = subprocess.run(
        ["psql", "-X", "-At", url, "-c", "SELECT current_user"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def drop(user: str, database: str, root: Path) -> None:
    for name in (database, f"{database}_remote"):
        as_postgres(f'DROP DATABASE IF EXISTS "{name}"; DROP ROLE IF EXISTS "{name}";')
    subprocess.run(["userdel", user], capture_output=True, check=False)
    subprocess.run(["groupdel", user], capture_output=True, check=False)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    if os.geteuid() != 0:
        message = "deploy/install is tested as root (it creates a system user and a PostgreSQL role)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    for program, package in (("psql", "postgresql-client"), ("runuser", "util-linux"), ("useradd", "passwd")):
        need_program(program, package)
    if subprocess.run(["runuser", "-u", "postgres", "--", "pg_isready", "-q"], check=False).returncode:
        message = "a local PostgreSQL cluster reachable as the postgres system user is needed"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="sesame-install-", dir="/var/tmp"))
    root.chmod(0o755)  # the service user must reach its directories below it
    user = f"sesame-t{os.getpid()}"
    database = user.replace("-", "_")
    try:
        spec = Installed(root=root, user=user, database=database, output="")
        spec.output = install(
            *spec.options(),
            *("--realm", REALM, "--region-name", "Région d'essai", "--public-url", f"https://{REALM}"),
        )
        yield spec
    finally:
        drop(user, database, root)


def test_install_makes_the_user_the_directories_and_the_secrets_and_their_modes(installed: Installed) -> None:
    assert f"PostgreSQL role and database {installed.database}" in installed.output
    assert "units written, not enabled" in installed.output  # no systemd PID 1 here
    account = pwd.getpwnam(installed.user)
    assert account.pw_shell == "/usr/sbin/nologin" and account.pw_uid < 1000  # a system user
    assert account.pw_dir == str(installed.state)

    def owner_mode(path: Path) -> tuple[str, str, int]:
        info = path.stat()
        return (
            pwd.getpwuid(info.st_uid).pw_name,
            grp.getgrgid(info.st_gid).gr_name,
            stat.S_IMODE(info.st_mode),
        )

    user = installed.user
    assert owner_mode(installed.config) == ("root", user, 0o750)
    assert owner_mode(installed.config / "sesame.toml") == ("root", user, 0o640)
    assert owner_mode(installed.config / "sesame.env") == ("root", user, 0o640)
    assert owner_mode(installed.state) == (user, user, 0o750)
    settings = (installed.config / "sesame.toml").read_text()
    assert f'realm = "{REALM}"' in settings and "Région d'essai" in settings
    assert f'public_url = "https://{REALM}"' in settings
    secrets = environment_file(installed.config / "sesame.env")
    assert len(secrets["SESAME_SECRET_KEY"]) >= 32
    assert secrets["SESAME_DATABASE_URL"].startswith(f"postgresql://{installed.database}:")
    # the service reads its secrets and cannot change them, nor its code; another user reads neither
    as_service = ["runuser", "-u", user, "--", "sh", "-c"]
    readable = subprocess.run([*as_service, f"cat {installed.config}/sesame.env"], capture_output=True)
    assert readable.returncode == 0
    for probe in (f"test -w {installed.config}/sesame.env", f"touch {installed.prefix}/sesame/x.py"):
        assert subprocess.run([*as_service, probe], capture_output=True).returncode != 0, probe
    assert (
        subprocess.run(
            ["runuser", "-u", "nobody", "--", "cat", f"{installed.config}/sesame.env"], capture_output=True
        ).returncode
        != 0
    )
    for path in installed.prefix.rglob("*"):
        info = path.lstat()
        assert info.st_uid == 0, path
        assert stat.S_ISLNK(info.st_mode) or not info.st_mode & 0o022, path  # a link's own mode is 777


def test_the_postgresql_role_owns_its_database_and_has_a_scram_password(installed: Installed) -> None:
    name = installed.database
    owner = as_postgres(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{name}'")
    assert owner == name
    rights = as_postgres(f"SELECT rolcanlogin, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = '{name}'")
    assert rights == "t|f|f"
    password = as_postgres(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{name}'")
    assert password.startswith("SCRAM-SHA-256$")
    # (this machine's cluster trusts 127.0.0.1, so the password itself is not exercised here)
    url = environment_file(installed.config / "sesame.env")["SESAME_DATABASE_URL"]
    assert connects_as(url) == name


def test_the_installed_units_pass_systemd_analyze_verify(installed: Installed) -> None:
    analyze = need_program("systemd-analyze", "systemd")
    units = [installed.units / unit for unit in UNITS]
    done = subprocess.run([analyze, "verify", "--man=no", *map(str, units)], capture_output=True, text=True)
    ours = [line for line in done.stderr.splitlines() if "sesame" in line]
    assert done.returncode == 0 and not ours, done.stderr
    service = unit_service(installed.units / "sesame.service")
    assert service["User"] == [installed.user] and service["Group"] == [installed.user]
    assert service["WorkingDirectory"] == [str(installed.state)]
    program, settings = installed.prefix / ".venv/bin/sesame", installed.config / "sesame.toml"
    assert service["ExecStart"] == [f"{program} --config {settings} serve"]
    assert "StateDirectory" not in service  # outside /var/lib: made by the installer, named in ReadWritePaths
    assert service["ReadWritePaths"] == [str(installed.state)]
    # the repository's units are the same files with the default paths
    for unit in UNITS:
        text = (DEPLOY / unit).read_text()
        rendered = (installed.units / unit).read_text()
        for path, default in (
            (installed.prefix, "/opt/sesame"),
            (installed.config, "/etc/sesame"),
            (installed.state, "/var/lib/sesame"),
        ):
            rendered = rendered.replace(str(path), default)
        back = rendered.replace(installed.user, "sesame")
        assert [line for line in back.splitlines() if not line.startswith("StateDirectory")] == [
            line for line in text.splitlines() if not line.startswith("StateDirectory")
        ]


@dataclass
class AsUnit:
    """Runs programs as a unit's [Service] says: its user and group (no others), working directory,
    environment file (and nothing else of this process's environment), umask."""

    env: dict[str, str]
    cwd: str
    user: str
    group: str
    umask: int

    def run(self, command: list[str], *, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            env=self.env,
            cwd=self.cwd,
            user=self.user,
            group=self.group,
            extra_groups=[],
            umask=self.umask,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start(self, command: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen(
                command,
                env=self.env,
                cwd=self.cwd,
                user=self.user,
                group=self.group,
                extra_groups=[],
                umask=self.umask,
                stdout=out,
                stderr=subprocess.STDOUT,
            )


def test_the_installed_service_started_as_its_unit_says_answers_radius_and_http(installed: Installed) -> None:
    service = unit_service(installed.units / "sesame.service")
    auth, acct, web, metrics = free_udp_port(), free_udp_port(), free_tcp_port(), free_tcp_port()
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"} | environment_file(Path(service["EnvironmentFile"][0]))
    # only the addresses and ports differ from the installed settings: this machine runs other servers
    env |= {
        "SESAME_RADIUS_BIND": "127.0.0.1",
        "SESAME_RADIUS_AUTH_PORT": str(auth),
        "SESAME_RADIUS_ACCT_PORT": str(acct),
        "SESAME_WEB_PORT": str(web),
        "SESAME_METRICS_PORT": str(metrics),
    }
    unit = AsUnit(
        env=env,
        cwd=service["WorkingDirectory"][0],
        user=service["User"][0],
        group=service["Group"][0],
        umask=int(service["UMask"][0], 8),
    )
    serve = shlex.split(service["ExecStart"][0])

    def sesame(*args: str, input: str | None = None) -> str:
        done = unit.run([*serve[:-1], *args], input=input)  # the unit's program and its --config
        assert done.returncode == 0, done.stderr
        return done.stdout

    for pre in service["ExecStartPre"]:
        done = unit.run(shlex.split(pre))
        assert done.returncode == 0, done.stderr
    log = installed.root / "serve.log"
    proc = unit.start(serve, log)
    try:
        deadline = time.monotonic() + 60
        while "sesame ready" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        sesame("commune", "add", "Valence", "--insee", "26362")
        sesame("site", "add", "Médiathèque", "--commune", "Valence")
        sesame(
            "nas", "add", "ap1", "--ip", "127.0.0.1", "--site", "Médiathèque", "--secret", "-", input=SECRET
        )
        sesame("user", "add", "alice", "--email", "alice@example.fr", "--password", PASSWORD)
        attributes = f'User-Name = "alice"\nUser-Password = "{PASSWORD}"\nMessage-Authenticator = 0x00\n'
        deadline = time.monotonic() + 20  # access points are reloaded within a couple of seconds
        while (reply := received(radclient(auth, SECRET, attributes, timeout=1))) != "Access-Accept":
            assert time.monotonic() < deadline, reply
        assert httpx.get(f"http://127.0.0.1:{web}/healthz").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{web}/readyz").status_code == 200
        assert "sesame_radius_requests_total" in httpx.get(f"http://127.0.0.1:{metrics}/metrics").text
        uid = pwd.getpwnam(installed.user).pw_uid
        assert all(p.stat().st_uid == uid for p in installed.state.rglob("*"))  # what it wrote is its own
    finally:
        stop(proc, 30)
    assert proc.returncode == 0, log.read_text()


def test_a_second_run_keeps_the_settings_and_the_secrets(installed: Installed) -> None:
    before = {name: (installed.config / name).read_text() for name in ("sesame.toml", "sesame.env")}
    output = install(*installed.options())
    assert "CREATE" not in output and "ALTER" not in output
    assert {name: (installed.config / name).read_text() for name in before} == before


def test_for_a_remote_database_the_printed_sql_creates_what_the_url_names(installed: Installed) -> None:
    name = f"{installed.database}_remote"
    config = installed.root / "etc" / "sesame-remote"
    units = installed.root / "units-remote"  # the other tests keep theirs
    options = installed.options(config=config, units=units)
    output = install(*options, "--database", "remote", "--db-name", name)
    sql = "\n".join(line for line in output.splitlines() if re.match(r"(CREATE|ALTER) ", line))
    assert f'CREATE ROLE "{name}" LOGIN PASSWORD' in sql and f'CREATE DATABASE "{name}" OWNER "{name}"' in sql
    assert as_postgres(f"SELECT count(*) FROM pg_roles WHERE rolname = '{name}'") == "0"  # printed, not run
    as_postgres(sql)
    url = environment_file(config / "sesame.env")["SESAME_DATABASE_URL"]
    assert connects_as(url) == name
