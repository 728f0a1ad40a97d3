"""check-ins: outcomes with their details, and how editors resolved them

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

Worker reports become check-ins (issue 18).  ``station_reports`` gains
``service`` (which service a ``service_missing`` names), ``lon``/``lat`` (a
``moved``'s suggested position, WGS-84), ``note`` (free text) and ``resolution``
(fixed / edited / closed / not_a_problem).  The four old report kinds become
outcomes: ``ok`` -> ``open_ok``, ``closed`` -> ``closed_when_open``,
``no_hot_water`` -> ``service_missing`` of ``hot_water``, ``charging_broken``
-> ``service_missing`` of ``ebike_charging`` (the couriers' chargers).  Reports
resolved before this revision keep an empty resolution (how is not known).
Downgrading maps them back (the new outcomes, which the old release cannot
show, become ``closed`` when a problem, ``ok`` otherwise) and drops the columns.
A frozen picture: never imports the app's tables.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_reports = sa.table("station_reports", sa.column("kind", sa.String), sa.column("service", sa.String))

#: old kind -> (outcome, service)
_UP = {"ok": ("open_ok", ""), "closed": ("closed_when_open", ""), "no_hot_water": ("service_missing", "hot_water"),
       "charging_broken": ("service_missing", "ebike_charging")}


def upgrade() -> None:
    with op.batch_alter_table("station_reports") as batch:
        batch.add_column(sa.Column("service", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("lon", sa.Float, nullable=True))
        batch.add_column(sa.Column("lat", sa.Float, nullable=True))
        batch.add_column(sa.Column("note", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("resolution", sa.String(16), nullable=False, server_default=""))
    for old, (kind, service) in _UP.items():
        op.execute(_reports.update().where(_reports.c.kind == old).values(kind=kind, service=service))


def downgrade() -> None:
    t = _reports
    op.execute(t.update().where(t.c.kind == "open_ok").values(kind="ok"))
    op.execute(t.update().where(t.c.kind == "service_missing", t.c.service == "hot_water").values(kind="no_hot_water"))
    op.execute(t.update().where(t.c.kind == "service_missing", t.c.service == "ebike_charging")
               .values(kind="charging_broken"))
    op.execute(t.update().where(t.c.kind.notin_(["ok", "no_hot_water", "charging_broken"])).values(kind="closed"))
    with op.batch_alter_table("station_reports") as batch:
        for col in ("resolution", "note", "lat", "lon", "service"):
            batch.drop_column(col)
