"""station requests: "a station is needed here" pins

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

One new table (issue 18): ``station_requests``, a pin (WGS-84 ``lon``/``lat``,
the ``adcode`` of the district it lies in, "" in none known) dropped by a
worker with a short ``reason`` at ``at``, ``pending`` until an editor of that
district approves or rejects it (``status``, ``decided_at``, ``decided_by``).
Nothing existing changes.  A frozen picture: never imports the app's tables.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "station_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("adcode", sa.String(6), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_at", _TZ, nullable=True),
        sa.Column("decided_by", sa.Text, nullable=False),
    )
    for col in ("adcode", "at", "status"):
        op.create_index(f"ix_station_requests_{col}", "station_requests", [col])


def downgrade() -> None:
    for col in ("adcode", "at", "status"):
        op.drop_index(f"ix_station_requests_{col}", table_name="station_requests")
    op.drop_table("station_requests")
