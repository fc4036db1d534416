"""The two EAP servers of ``eap_bench.py``, each with the same certificate and the same accounts.

* **FreeRADIUS 3.2** (``EapFreeRadius``): the bench instance of ``freeradius.py`` with rlm_eap
  (``bench/freeradius/mod-eap``: PEAP/EAP-MSCHAPv2 and TTLS/PAP, an inner virtual server checking
  the users file) and rlm_mschap. Accounts ``user{i}@bench.example`` have a ``Cleartext-Password``
  in ``files``: rlm_pap compares it as is, rlm_mschap computes its NT hash (MD4) per request. The
  thread pool is the stock one (radiusd.conf: 5 threads at start, up to 32) unless told otherwise.
  TLS resumption through its session cache in memory (no ``persist_dir``).
* **Sésame** (``EapSesame``): ``sesame serve`` as ``auth_bench.py`` runs it (PostgreSQL, accounts
  seeded by COPY, web off) plus ``SESAME_EAP_*``; each account also gets a device credential for
  PEAP (its NT hash sealed, as ``sesame credential add`` stores it) whose password is the account's,
  so both servers check the same secret. Account passwords are a cheap argon2id (m=64 KiB, t=1,
  ``sesame_seed.py``) and the warm-up fills each worker's verification cache, as returning devices
  would: inner PAP is then a cache hit. PEAP reads the NT hashes from PostgreSQL every time.

Both get the certificate of :func:`radius.eap.trialpki.make_trial_pki` (ECDSA P-256 by default,
RSA-2048 with ``key="rsa"``), the server name ``radius.bench.example``.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import freeradius as fr
from auth_targets import SesameTarget, database_cpu_seconds
from sesame_seed import SESAME_KEY

from accounts.credentials import NT_HASH_PURPOSE, nt_hash
from accounts.secretbox import SecretBox
from radius.eap.trialpki import TrialFiles, make_trial_pki
from tests.support.eapol import eapol_test

REALM = "bench.example"
SERVER_NAME = f"radius.{REALM}"
STOCK_POOL = """thread pool {
	start_servers = 5
	max_servers = 32
	min_spare_servers = 3
	max_spare_servers = 10
	max_queue_size = 65536
	max_requests_per_server = 0
	auto_limit_acct = no
}"""


def make_pki(directory: Path, key: str = "ec") -> TrialFiles:
    return make_trial_pki(directory, realm=REALM, kind=key)


class EapFreeRadius(fr.FreeRadius):
    """FreeRADIUS with rlm_eap; ``threads`` 0: the stock thread pool (5 to 32)."""

    def __init__(self, workdir: Path, pki: TrialFiles, *, threads: int = 0, tls_max: str = "1.3") -> None:
        self.pki = pki
        self.tls_max = tls_max
        self.stock_pool = threads == 0
        self.cache = False  # the stock setting; resumption needs it on (see set_cache)
        super().__init__("files", workdir=workdir, site="site-eap", threads=threads or 5)

    def set_cache(self, on: bool) -> None:
        """Session resumption on or off (restarts a running server): FreeRADIUS 3.2 resumes only
        sessions it wrote to its ``persist_dir``, two files per full handshake, so the full-handshake
        measurements run with it off, as shipped."""
        if on == self.cache:
            return
        self.cache = on
        self._write_eap()
        if self.running:
            self.stop()
            self.start(timeout=120)

    def _write_eap(self) -> None:
        cache = "yes" if self.cache else "no"
        values = {"PKI": str(self.pki.ca.parent), "TLS_MAX": self.tls_max, "CACHE": cache}
        (self.dir / "mods-enabled" / "eap").write_text(self._render("mod-eap", **values))

    def _configure(self) -> None:
        super()._configure()
        self._write_eap()
        (self.dir / "mods-enabled" / "mschap").write_text(self._render("mod-mschap"))
        (self.dir / "log" / "tlscache").mkdir(mode=0o700, exist_ok=True)
        if self.stock_pool:
            conf = self.dir / "radiusd.conf"
            conf.write_text(re.sub(r"thread pool \{.*?\n\}", STOCK_POOL, conf.read_text(), flags=re.S))

    def describe(self) -> str:
        pool = "stock thread pool (5 at start, up to 32)" if self.stock_pool else f"{self.threads} threads"
        return f"FreeRADIUS 3.2.1, rlm_eap, files, {pool}"

    def thread_count(self) -> int:
        """Threads of the running process now (the pool grows under load)."""
        if self.pid is None:
            return 0
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
        return 0


class EapSesame(SesameTarget):
    """``sesame serve`` with EAP on, ``workers`` RADIUS worker processes."""

    def __init__(
        self, workdir: Path, pki: TrialFiles, *, workers: int, env: dict[str, str] | None = None
    ) -> None:
        eap_env = {
            "SESAME_EAP_CERTIFICATE": str(pki.server_certificate),
            "SESAME_EAP_PRIVATE_KEY": str(pki.server_key),
            "SESAME_EAP_METHODS": "peap,ttls",
            "SESAME_EAP_TLS_MAX_VERSION": "1.3",
        }
        super().__init__(workdir, workers, database="sesame_bench_eap", env=eap_env | (env or {}))

    def prepare_eap(self, users: int) -> None:
        """Accounts ``user{i}@bench.example`` (password ``fr.PASSWORD``), each with one device
        credential of the same password (PEAP/EAP-MSCHAPv2)."""
        self.prepare("pap", users)
        asyncio.run(seed_device_credentials(self.database))

    def pids(self) -> list[int]:
        return fr.process_tree(self.proc.pid) if self.proc else []

    def db_pids(self) -> list[int]:
        return list(asyncio.run(fr.backend_pids(self.database)))

    def database_cpu_seconds(self) -> float:
        return database_cpu_seconds(self.database)

    def describe(self) -> str:
        return f"Sésame, {self.workers} RADIUS worker processes (SO_REUSEPORT), PostgreSQL"


async def seed_device_credentials(database: str) -> int:
    box = SecretBox(SESAME_KEY)
    sealed = box.seal(nt_hash(fr.PASSWORD), purpose=NT_HASH_PURPOSE)
    joined = datetime.now(UTC) - timedelta(days=30)
    conn = await asyncpg.connect(f"{fr.PG_URL}/{database}")
    try:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM account ORDER BY id")]
        await conn.copy_records_to_table(
            "device_credential",
            records=[(i, "phone", sealed, joined, joined) for i in ids],
            columns=["account_id", "label", "nt_hash_ciphertext", "created_at", "updated_at"],
        )
        await conn.execute("ANALYZE device_credential")
    finally:
        await conn.close()
    return len(ids)


def eapol(
    workdir: Path,
    port: int,
    secret: str,
    pki: TrialFiles,
    *,
    user: str,
    password: str,
    method: str,
    tls: str,
    reauthentications: int = 0,
) -> tuple[bool, str]:
    """(succeeded with matching MPPE keys, eapol_test's output) of one run of wpa_supplicant's client."""
    out = eapol_test(
        workdir,
        port,
        secret,
        identity=user,
        password=password,
        method=method.upper(),
        ca_cert=pki.ca,
        server_name=SERVER_NAME,
        tls=tls,
        reauthentications=reauthentications,
    )
    keys = f"MPPE keys OK: {reauthentications + 1}  mismatch: 0" in out
    return out.rstrip().endswith("SUCCESS") and keys, out
