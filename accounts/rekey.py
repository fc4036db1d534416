"""Re-sealing the stored secrets under the current key after ``SESAME_SECRET_KEY`` changed.

A key rotation (docs/operations.md, "Rotating the secret key") runs with the new key as
``SESAME_SECRET_KEY`` and the old one as ``SESAME_SECRET_KEY_PREVIOUS``: everything opens under
either. :func:`reseal` then walks every sealed column in committed batches and re-seals under the
new key what the old one sealed (and a token's lookup digest with it), so the previous key can be
dropped. Each row is rewritten only if it still holds what was read (compare and set): a secret
changed meanwhile (a NAS secret rotated by an admin) is left as it now is, already under the
new key. The running service keeps answering throughout: it opens both forms.

What is *not* re-sealed, because nothing stored can be recomputed: keyed digests of values that
are not kept (service clients' secrets — upgraded at their next use —, email codes — short-lived
—, staff's recovery codes — made anew after a rotation, docs/console.md —, the pseudonyms of
deleted accounts), and the values derived from the key rather than stored (Chargeable-User-Identity,
F-Ticks, Class, cookies, Redis keys). The documentation says what each means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.credentials import NT_HASH_PURPOSE
from accounts.errors import SecretUnreadable
from accounts.identitylinks import CIVIL_PURPOSE
from accounts.models import (
    AdminTotp,
    ClosedAccount,
    DeviceCredential,
    HomeServer,
    IdentityLink,
    Nas,
    RadiusToken,
    Voucher,
)
from accounts.network import NAS_SECRET_PURPOSE, UAM_SECRET_PURPOSE
from accounts.partners import HOME_SERVER_SECRET_PURPOSE
from accounts.secretbox import SecretBox
from accounts.tokens import TOKEN_PURPOSE
from accounts.twofactor import TOTP_PURPOSE
from accounts.users import CLOSED_EMAIL_PURPOSE
from accounts.vouchercodes import CODE_PURPOSE as VOUCHER_CODE_PURPOSE


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedColumn:
    """One column of sealed secrets; ``digest``: the column holding a keyed digest of the same
    secret (recomputed with it)."""

    label: str
    table: Table
    column: str
    purpose: str
    digest: str | None = None


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


#: Every column sealed with the secret key (tests/accounts/test_rekey.py checks none is missing).
SEALED: tuple[SealedColumn, ...] = (
    SealedColumn(
        label="access point secrets",
        table=_table(Nas),
        column="secret_ciphertext",
        purpose=NAS_SECRET_PURPOSE,
    ),
    SealedColumn(
        label="hand-off (UAM) secrets",
        table=_table(Nas),
        column="uam_secret_ciphertext",
        purpose=UAM_SECRET_PURPOSE,
    ),
    SealedColumn(
        label="home server secrets",
        table=_table(HomeServer),
        column="secret_ciphertext",
        purpose=HOME_SERVER_SECRET_PURPOSE,
    ),
    SealedColumn(
        label="device credentials (NT hashes)",
        table=_table(DeviceCredential),
        column="nt_hash_ciphertext",
        purpose=NT_HASH_PURPOSE,
    ),
    SealedColumn(
        label="closed accounts' emails",
        table=_table(ClosedAccount),
        column="email_ciphertext",
        purpose=CLOSED_EMAIL_PURPOSE,
    ),
    SealedColumn(
        label="portal tokens",
        table=_table(RadiusToken),
        column="token_ciphertext",
        purpose=TOKEN_PURPOSE,
        digest="digest",
    ),
    SealedColumn(
        label="staff TOTP secrets",
        table=_table(AdminTotp),
        column="secret_ciphertext",
        purpose=TOTP_PURPOSE,
    ),
    SealedColumn(
        label="civil identities kept from an identity provider",
        table=_table(IdentityLink),
        column="civil_ciphertext",
        purpose=CIVIL_PURPOSE,
    ),
    SealedColumn(
        label="guests' voucher codes",
        table=_table(Voucher),
        column="code_ciphertext",
        purpose=VOUCHER_CODE_PURPOSE,
        digest="digest",
    ),
)


@dataclass(slots=True)
class ColumnReport:
    """What a walk over one sealed column found (and, unless a dry run, did)."""

    label: str
    current: int = 0  #: already sealed under the current key
    resealed: int = 0  #: sealed under a previous key (re-sealed unless a dry run)
    unreadable: list[int] = field(default_factory=list)  #: ids no accepted key opens
    changed_meanwhile: int = 0  #: rewritten by someone else between read and write: left as they are


@dataclass(frozen=True, slots=True)
class RekeyReport:
    columns: Sequence[ColumnReport]
    dry_run: bool

    @property
    def done(self) -> bool:
        """Whether every stored secret now opens under the current key alone."""
        return all(not c.unreadable and (self.dry_run is False or c.resealed == 0) for c in self.columns)


async def reseal(
    sessions: async_sessionmaker[AsyncSession],
    *,
    box: SecretBox,
    batch_size: int = 500,
    dry_run: bool = False,
) -> RekeyReport:
    """Re-seal under the current key every stored secret a previous key sealed, one committed
    transaction per batch (short locks: the RADIUS and portal processes keep writing)."""
    reports = []
    for sealed in SEALED:
        report = ColumnReport(label=sealed.label)
        after = 0
        while True:
            async with sessions() as session, session.begin():
                after = await _batch(
                    session, sealed, box=box, after=after, size=batch_size, report=report, dry_run=dry_run
                )
            if after < 0:
                break
        reports.append(report)
    return RekeyReport(columns=reports, dry_run=dry_run)


async def _batch(
    session: AsyncSession,
    sealed: SealedColumn,
    *,
    box: SecretBox,
    after: int,
    size: int,
    report: ColumnReport,
    dry_run: bool,
) -> int:
    """One batch of rows with an id above ``after``; the last id seen, -1 at the end."""
    table = sealed.table
    ident: Column[Any] = table.c.id
    column: Column[Any] = table.c[sealed.column]
    rows = (
        await session.execute(
            select(ident, column).where(ident > after, column.is_not(None)).order_by(ident).limit(size)
        )
    ).all()
    for row_id, token in rows:
        try:
            fresh = box.resealed(token, purpose=sealed.purpose)
        except SecretUnreadable:
            report.unreadable.append(row_id)
            continue
        if fresh is None:
            report.current += 1
            continue
        report.resealed += 1
        if dry_run:
            continue
        values: dict[str, str] = {sealed.column: fresh}
        if sealed.digest is not None:
            values[sealed.digest] = box.digest(
                box.open(fresh, purpose=sealed.purpose), purpose=sealed.purpose
            )
        result = await session.execute(update(table).where(ident == row_id, column == token).values(**values))
        if getattr(result, "rowcount", 1) != 1:
            report.resealed -= 1
            report.changed_meanwhile += 1
    return int(rows[-1][0]) if len(rows) == size else -1


async def unreadable_samples(session: AsyncSession, *, box: SecretBox) -> list[str]:
    """The kinds of secret whose newest stored one opens under no accepted key: all of them
    when the database was restored without its key (checked by ``sesame serve`` at start)."""
    unreadable = []
    for sealed in SEALED:
        column: Column[Any] = sealed.table.c[sealed.column]
        token = await session.scalar(
            select(column).where(column.is_not(None)).order_by(sealed.table.c.id.desc()).limit(1)
        )
        try:
            if token is not None:
                box.open(token, purpose=sealed.purpose)
        except SecretUnreadable:
            unreadable.append(sealed.label)
    return unreadable
