"""Bandwidth limits as RADIUS attributes, for the gear the region runs.

No database code: the RADIUS pipeline, the proxy's relay (sans-I/O) and CoA all use it.
"""

from __future__ import annotations


def bandwidth_attributes(*, up_kbps: int | None, down_kbps: int | None) -> list[tuple[str, int]]:
    """The RADIUS attributes that carry bandwidth limits, for the gear the region runs: WISPr
    (bit/s) and ChilliSpot/CoovaChilli (kbit/s). A None limit sends nothing."""
    found: list[tuple[str, int]] = []
    if up_kbps is not None:
        found += [("WISPr-Bandwidth-Max-Up", up_kbps * 1000), ("ChilliSpot-Bandwidth-Max-Up", up_kbps)]
    if down_kbps is not None:
        found += [
            ("WISPr-Bandwidth-Max-Down", down_kbps * 1000),
            ("ChilliSpot-Bandwidth-Max-Down", down_kbps),
        ]
    return found
