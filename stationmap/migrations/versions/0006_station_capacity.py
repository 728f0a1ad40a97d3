"""a station's capacity (people served at once)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

One new column of ``stations`` (issue 17): ``capacity``, the people a station
serves at once (seats, beds), the supply of the accessibility index (E2SFCA);
empty: not known (the index then takes 1 and says so).  Existing stations keep
every value and get none.  A frozen picture: never imports the app's tables.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.add_column(sa.Column("capacity", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stations") as batch:
        batch.drop_column("capacity")
