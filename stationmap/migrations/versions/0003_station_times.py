"""a station's reopening date and its services' own hours

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

Two new columns of ``stations`` (issue 15): ``reopens_on`` (a temporarily
closed station counts as active again from this date; empty: not known) and
``service_hours`` (JSON ``{service: OpenStreetMap opening_hours}``, a service's
own hours inside the station's; empty: none).  Existing stations keep every
value and get neither.  A frozen picture: never imports the app's tables.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("reopens_on", sa.Date, nullable=True))
        batch.add_column(sa.Column("service_hours", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("service_hours")
        batch.drop_column("reopens_on")
