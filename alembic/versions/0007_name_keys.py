"""Folded name keys: communes, sites and access points are looked up by ``fold_name`` of their name
(NFKC, no format characters, case folded, no accents, look-alikes mapped, spaces collapsed), and a
site's key is unique in its commune, an access point's in the region (issue 14, point 9).

Existing rows get their key here, with a frozen copy of the folding. Rows that collide once folded
(two sites "Gare" and "GARE" in one commune) keep working: the second and later get their id
appended to the key, so lookups by name find the first, and the operator renames the others.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 11:20:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOOKALIKES = str.maketrans(
    {
        **dict(zip("асеіјорѕухԁһӏԛԝѵ", "aceijopsyxdhlqwv", strict=True)),
        **dict(zip("αβεικνοτυχ", "abeiknotux", strict=True)),
        "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe",
    }
)


def _fold(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf").casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = text.translate(_LOOKALIKES)
    text = "".join("-" if unicodedata.category(c) == "Pd" else c for c in text)
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _fill(table: str, column: str, key: str, width: int, scope: str | None) -> None:
    connection = op.get_bind()
    columns = f"id, {column}" + (f", {scope}" if scope else "")
    seen: set[tuple[object, str]] = set()
    for row in connection.execute(sa.text(f"SELECT {columns} FROM {table} ORDER BY id")).all():  # noqa: S608 - constant names
        value = _fold(row[1])[: width - 12]
        where = row[2] if scope else None
        if (where, value) in seen:
            value = f"{value}#{row[0]}"
        seen.add((where, value))
        connection.execute(
            sa.text(f"UPDATE {table} SET {key} = :key WHERE id = :id"),  # noqa: S608 - constant names
            {"key": value, "id": row[0]},
        )


# Plain ALTER TABLE and CREATE INDEX, no batch mode: on SQLite a batch recreates the table, which
# foreign keys from existing rows (sites of a commune, access points of a site) forbid. The keys'
# server default only serves this migration's ADD COLUMN on a non-empty table; the services set
# every key (accounts.models, ``@validates``).


def upgrade() -> None:
    op.add_column('commune', sa.Column('name_key', sa.String(length=255), server_default='', nullable=False))
    op.add_column('site', sa.Column('name_key', sa.String(length=255), server_default='', nullable=False))
    op.add_column('nas', sa.Column('shortname_key', sa.String(length=128), server_default='', nullable=False))

    _fill('commune', 'name', 'name_key', 255, None)
    _fill('site', 'name', 'name_key', 255, 'commune_id')
    _fill('nas', 'shortname', 'shortname_key', 128, None)

    op.create_index(op.f('ix_commune_name_key'), 'commune', ['name_key'], unique=False)
    op.create_index(op.f('ix_site_commune_id_name_key'), 'site', ['commune_id', 'name_key'], unique=True)
    op.create_index(op.f('ix_nas_shortname_key'), 'nas', ['shortname_key'], unique=True)


def downgrade() -> None:
    op.drop_index(op.f('ix_nas_shortname_key'), table_name='nas')
    op.drop_index(op.f('ix_site_commune_id_name_key'), table_name='site')
    op.drop_index(op.f('ix_commune_name_key'), table_name='commune')
    op.drop_column('nas', 'shortname_key')
    op.drop_column('site', 'name_key')
    op.drop_column('commune', 'name_key')
