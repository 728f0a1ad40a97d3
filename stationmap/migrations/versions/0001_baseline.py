"""baseline: the schema of the last release before migrations

Revision ID: 0001
Revises:
Create Date: 2026-12-07

The four tables exactly as ``StationStore.create_all`` made them before
Alembic (main at 5bf4dda): stations, station_changes (the history), users,
station_reports, with their indexes and the unique user name.  A database
made by that release has no ``alembic_version`` table; ``stationmap db
upgrade`` compares it with :func:`baseline_metadata` and, when they agree,
stamps it 0001 instead of running this (stationmap.migrations.upgrade).

This file is a frozen picture: it never imports the app's tables.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def _stations() -> list:
    return [
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_en", sa.Text, nullable=False),
        sa.Column("kinds", sa.Text, nullable=False),
        sa.Column("services", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("adcode", sa.String(6), nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("operator", sa.Text, nullable=False),
        sa.Column("phone", sa.Text, nullable=False),
        sa.Column("opening_hours", sa.Text, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("verified_at", sa.Date, nullable=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
    ]


def _station_changes() -> list:
    return [
        sa.Column("rev", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("user", sa.Text, nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("note", sa.Text, nullable=False),
    ]


def _users() -> list:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.UniqueConstraint("username"),
    ]


def _station_reports() -> list:
    return [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("resolved_at", _TZ, nullable=True),
        sa.Column("resolved_by", sa.Text, nullable=False),
    ]


#: table -> (its columns and constraints, its indexes {name: columns}), in creation order
TABLES = {
    "stations": (_stations, {"ix_stations_adcode": ["adcode"]}),
    "station_changes": (_station_changes, {"ix_station_changes_station_id": ["station_id"]}),
    "users": (_users, {}),
    "station_reports": (_station_reports, {"ix_station_reports_station_id": ["station_id"],
                                           "ix_station_reports_at": ["at"]}),
}


def baseline_metadata() -> sa.MetaData:
    """The baseline schema as a MetaData (to recognise a database made before migrations)."""
    md = sa.MetaData()
    for name, (columns, indexes) in TABLES.items():
        table = sa.Table(name, md, *columns())
        for ix, on in indexes.items():
            sa.Index(ix, *(table.c[c] for c in on))
    return md


def upgrade() -> None:
    for name, (columns, indexes) in TABLES.items():
        op.create_table(name, *columns())
        for ix, on in indexes.items():
            op.create_index(ix, name, on)


def downgrade() -> None:
    for name, (_columns, indexes) in reversed(TABLES.items()):
        for ix in indexes:
            op.drop_index(ix, table_name=name)
        op.drop_table(name)
