"""worker reports: the key that counts one device's repeated report once

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

A new column of ``station_reports`` (issue 20): ``reporter``, a keyed hash
(HMAC-SHA-256 with the instance's secret key) of the reporting client's address
with the station and the kind.  An identical report with the same key within
``REPORT_REPEAT_MINUTES`` is counted once; the key is erased once that window
has passed, so nothing about a reporter is kept longer.  Existing reports get an
empty key.  A frozen picture: never imports the app's tables.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("station_reports") as batch:
        batch.add_column(sa.Column("reporter", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("station_reports") as batch:
        batch.drop_column("reporter")
