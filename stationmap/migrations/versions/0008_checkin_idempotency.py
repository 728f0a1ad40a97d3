"""check-ins: the sender's idempotency key, so a check-in queued offline counts once

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

A new column of ``station_reports`` (issue 19): ``client_key``, the
``Idempotency-Key`` a client sends with ``POST /api/v1/stations/<id>/checkins``
(the finder's offline queue makes one per check-in, a UUID).  A check-in whose
key is already recorded is not added again.  Unique (NULLs, the form's
check-ins and every existing one, are not compared).  A frozen picture: never
imports the app's tables.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("station_reports") as batch:
        batch.add_column(sa.Column("client_key", sa.String(64), nullable=True))
        batch.create_index("ux_station_reports_client_key", ["client_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("station_reports") as batch:
        batch.drop_index("ux_station_reports_client_key")
        batch.drop_column("client_key")
