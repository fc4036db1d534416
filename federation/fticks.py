"""F-Ticks: one log line per federated authentication, for federation statistics (no usernames).

The format is eduroam's (``F-TICKS/<federation>/1.0#REALM=…#VISCOUNTRY=…#VISINST=…#CSI=…#RESULT=OK|FAIL#``):
REALM is the user's home realm, VISCOUNTRY and VISINST the visited country and institution
(the operator of the hotspot: ours for visitors, the Operator-Name of a partner's request for our
citizens roaming there), CSI the device's MAC address hashed with a key of ours, so that one
device can be counted without being identified. Lines go to the ``sesame.fticks`` logger (send
it to syslog to feed the federation's collector).
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from accounts.identity import canonical_mac
from accounts.wiretext import storable

log = logging.getLogger("sesame.fticks")

_UNSAFE = str.maketrans({"#": "_", "=": "_"})


def _field(value: str) -> str:
    """A value that cannot end or forge a field or the line (control characters escaped too)."""
    return (storable(value, 1024) or "").translate(_UNSAFE)[:253]


class FTicks:
    def __init__(self, *, key: bytes, federation: str, country: str) -> None:
        self.key = key
        self.federation = _field(federation)
        self.country = _field(country)

    def csi(self, calling_station_id: str | None) -> str:
        """The hashed device: the MAC address in canonical form, keyed, truncated."""
        if not calling_station_id:
            return ""
        mac = canonical_mac(calling_station_id) or calling_station_id.strip().lower()
        return hmac.new(self.key, mac.encode(), hashlib.sha256).hexdigest()[:32]

    def line(
        self,
        *,
        realm: str,
        visited_institution: str,
        calling_station_id: str | None,
        ok: bool,
        visited_country: str | None = None,
    ) -> str:
        fields = [
            f"REALM={_field(realm)}",
            f"VISCOUNTRY={_field(visited_country if visited_country is not None else self.country)}",
            f"VISINST={_field(visited_institution)}",
            f"CSI={self.csi(calling_station_id)}",
            f"RESULT={'OK' if ok else 'FAIL'}",
        ]
        return f"F-TICKS/{self.federation}/1.0#" + "#".join(fields) + "#"

    @staticmethod
    def enabled() -> bool:
        """Whether lines are logged at all (building one costs a keyed hash: skip it when not)."""
        return log.isEnabledFor(logging.INFO)

    def record(self, line: str) -> None:
        """Log a :meth:`line` (kept apart so the line can be tested without a logger)."""
        log.info(line)
