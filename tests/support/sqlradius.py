"""A private FreeRADIUS 3.2 (Debian) reading its users from PostgreSQL with the stock ``sql`` module
(schema and queries of ``mods-config/sql/main/postgresql``): authorize ``sql``, ``mschap``,
``pap``; authenticate PAP and MS-CHAP. The interop test of the import authenticates the rows of
tests/support/radcheck.py here first, to prove they are what FreeRADIUS accepts.

As ``bench/freeradius.py`` does, the stock /etc/freeradius/3.0 is copied (dictionaries, the SQL
queries) and radiusd.conf, the clients, the modules and the one virtual server are replaced.
Needs Debian's ``freeradius`` and ``freeradius-postgresql`` packages.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.support.freeradius import FreeRadiusProcess
from tests.support.ports import free_udp_port
from tests.support.status_server import answers_status_server

STOCK = Path("/etc/freeradius/3.0")
SQL_DRIVER = Path("/usr/lib/freeradius/rlm_sql_postgresql.so")

_RADIUSD = """
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {dir}
sbindir = /usr/sbin
logdir = {dir}/log
raddbdir = {dir}
radacctdir = ${{logdir}}/radacct
name = freeradius
confdir = ${{raddbdir}}
modconfdir = ${{confdir}}/mods-config
certdir = ${{confdir}}/certs
cadir = ${{confdir}}/certs
run_dir = {dir}/run
db_dir = ${{raddbdir}}
libdir = /usr/lib/freeradius
pidfile = ${{run_dir}}/${{name}}.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
	destination = files
	colourise = no
	file = ${{logdir}}/radius.log
	auth = yes
}}
security {{
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = yes
}}
proxy_requests = no
client local {{
	ipaddr = 127.0.0.1
	secret = {secret}
	require_message_authenticator = no
	nas_type = other
}}
thread pool {{
	start_servers = 2
	max_servers = 2
	min_spare_servers = 1
	max_spare_servers = 2
	max_queue_size = 1024
	max_requests_per_server = 0
	auto_limit_acct = no
}}
modules {{
	$INCLUDE mods-enabled/
}}
instantiate {{
}}
policy {{
}}
$INCLUDE sites-enabled/
"""

_SQL = """
sql {{
	dialect = "postgresql"
	driver = "rlm_sql_postgresql"
	postgresql {{
		send_application_name = yes
	}}
	server = "{host}"
	port = {port}
	login = "{user}"
	password = ""
	radius_db = "{database}"
	acct_table1 = "radacct"
	acct_table2 = "radacct"
	postauth_table = "radpostauth"
	authcheck_table = "radcheck"
	groupcheck_table = "radgroupcheck"
	authreply_table = "radreply"
	groupreply_table = "radgroupreply"
	usergroup_table = "radusergroup"
	delete_stale_sessions = yes
	pool {{
		start = 1
		min = 1
		max = 2
		spare = 1
		uses = 0
		retry_delay = 1
		lifetime = 0
		idle_timeout = 0
	}}
	read_clients = no
	client_table = "nas"
	group_attribute = "SQL-Group"
	$INCLUDE ${{modconfdir}}/${{.:name}}/main/${{dialect}}/queries.conf
}}
"""

_SITE = """
server default {{
	listen {{
		type = auth
		ipaddr = 127.0.0.1
		port = {port}
	}}
	authorize {{
		sql
		mschap
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
		Auth-Type MS-CHAP {{
			mschap
		}}
	}}
	post-auth {{
		Post-Auth-Type REJECT {{
			ok
		}}
	}}
}}
"""


class SqlFreeRadius(FreeRadiusProcess):
    """FreeRADIUS over the PostgreSQL database at ``database_url`` (a SQLAlchemy URL), in ``workdir``."""

    def __init__(self, workdir: Path, database_url: str, *, secret: str = "testing123") -> None:
        super().__init__(workdir / "raddb")
        self.secret = secret
        self.port = free_udp_port("127.0.0.1")
        url = make_url(database_url)
        if self.dir.exists():
            shutil.rmtree(self.dir)
        shutil.copytree(STOCK, self.dir, symlinks=True)
        for sub in ("sites-enabled", "mods-enabled"):
            shutil.rmtree(self.dir / sub)
            (self.dir / sub).mkdir()
        for sub in ("log", "run"):
            (self.dir / sub).mkdir(exist_ok=True)
        (self.dir / "radiusd.conf").write_text(_RADIUSD.format(dir=self.dir, secret=secret))
        modules = self.dir / "mods-enabled"
        (modules / "sql").write_text(
            _SQL.format(
                host=url.host or "127.0.0.1",
                port=url.port or 5432,
                user=url.username or "postgres",
                database=url.database,
            )
        )
        (modules / "pap").write_text("pap {\n\tnormalise = yes\n}\n")
        (modules / "mschap").write_text("mschap {\n}\n")
        for module in ("always", "expr"):  # "ok" is rlm_always; the stock queries need %{tolower:…}
            shutil.copy(STOCK / "mods-available" / module, modules / module)
        self._write_site()

    def _write_site(self) -> None:
        (self.dir / "sites-enabled" / "default").write_text(_SITE.format(port=self.port))

    def ready(self) -> bool:
        return answers_status_server("127.0.0.1", self.port, self.secret, timeout=0.5)

    def choose_new_ports(self) -> bool:
        self.port = free_udp_port("127.0.0.1")
        self._write_site()
        return True
