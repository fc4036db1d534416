"""Vouchers' codes and rules, without a database (the RADIUS pipeline and the portal share them).

A code is 12 characters of an alphabet without look-alikes (no 0/O, 1/I/L, U), printed in three
groups of four: ``K7XM-P3QR-T9VW``. 30¹² ≈ 2⁵⁹ codes: guessing one by trying is hopeless under the
failed-attempt limits of the portal and of RADIUS (docs/security.md). Typed in any case, with or
without the dashes or spaces; :func:`normalize_code` gives the one form that is digested.

A voucher's account has a username no citizen can choose (``voucher~<batch>-<n>``: citizens'
usernames have no ``~``), so the RADIUS policy knows a voucher's account by its name, whatever the
method it came by (its code over PAP, or a portal token), and applies :func:`judge`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 12
GROUP = 4
USERNAME_PREFIX = "voucher~"
CODE_PURPOSE = "voucher-code"
_HEX = set("0123456789ABCDEF")


def new_code() -> str:
    """A fresh random code in its printed form. Never one of hexadecimal digits only (about one
    in 9,000 draws): ``AB2C-DE3F-4567`` is also a MAC address, and a MAC as user name means MAC
    authentication to the RADIUS policy."""
    while True:
        raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if not set(raw) <= _HEX:
            return printed(raw)


def printed(code: str) -> str:
    """``K7XMP3QRT9VW`` → ``K7XM-P3QR-T9VW``."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalize_code(value: str) -> str | None:
    """The code typed (any case, dashes or spaces anywhere), as digested; None if it cannot be one."""
    if len(value) > 40:
        return None
    raw = "".join(ch for ch in value.upper() if ch not in "- \t")
    if len(raw) != LENGTH or any(ch not in ALPHABET for ch in raw):
        return None
    return raw


def voucher_username(batch_id: int, number: int) -> str:
    return f"{USERNAME_PREFIX}{batch_id}-{number}"


def is_voucher_username(username: str) -> bool:
    return username.startswith(USERNAME_PREFIX)


@dataclass(frozen=True, slots=True, kw_only=True)
class VoucherState:
    """What the rules need to know of one voucher, now."""

    voucher_id: int
    account_id: int
    valid_from: datetime
    valid_until: datetime
    #: the end of its life so far: ``valid_until``, brought forward at first use or revocation
    expires_at: datetime
    duration: timedelta
    first_used_at: datetime | None
    revoked: bool
    octets_limit: int | None
    octets_used: int
    max_devices: int
    #: where it works: these communes and sites; none of either — the batch's commune (the whole
    #: region for a region's batch)
    communes: frozenset[int]
    sites: frozenset[int]
    batch_commune_id: int | None


@dataclass(frozen=True, slots=True)
class Verdict:
    """``refusal``: why not (a reason code), or None; then what is left of it."""

    refusal: str | None
    seconds_left: int = 0
    octets_left: int | None = None


def works_at(state: VoucherState, *, commune_id: int | None, site_id: int | None) -> bool:
    if commune_id is None:  # not one of our access points (a partner's proxy): never
        return False
    if state.communes or state.sites:
        return commune_id in state.communes or (site_id is not None and site_id in state.sites)
    return state.batch_commune_id is None or state.batch_commune_id == commune_id


def end_of(state: VoucherState, now: datetime) -> datetime:
    """When it stops working if used now (its first use starts its duration)."""
    start = state.first_used_at or now
    return min(state.expires_at, state.valid_until, start + state.duration)


def judge(
    state: VoucherState,
    *,
    now: datetime,
    commune_id: int | None,
    site_id: int | None,
    devices_in_use: int = 0,
) -> Verdict:
    """Whether the voucher may connect now at that place, with ``devices_in_use`` other devices
    connected: the window, the duration since first use, revocation, the place, the devices, the
    data allowance — in that order."""
    if state.revoked:
        return Verdict("voucher_revoked")
    if now < state.valid_from:
        return Verdict("voucher_not_yet_valid")
    end = end_of(state, now)
    seconds = int((end - now).total_seconds())
    if seconds <= 0:
        return Verdict("voucher_expired")
    if not works_at(state, commune_id=commune_id, site_id=site_id):
        return Verdict("voucher_wrong_place")
    if devices_in_use >= state.max_devices:
        return Verdict("voucher_devices")
    octets_left = None
    if state.octets_limit is not None:
        octets_left = state.octets_limit - state.octets_used
        if octets_left <= 0:
            return Verdict("voucher_volume")
    return Verdict(None, seconds_left=seconds, octets_left=octets_left)
