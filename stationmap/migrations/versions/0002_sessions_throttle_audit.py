"""sessions, login failures and the audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

Three new tables (issue 22): ``sessions`` (server-side sign-in sessions, by
the hash of their id), ``login_failures`` (the sign-in throttle, shared by
every worker) and ``audit_log`` (the security audit log).  Nothing existing
changes.  A frozen picture: never imports the app's tables.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("last_seen", _TZ, nullable=False),
        sa.Column("ended_at", _TZ, nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("at", _TZ, nullable=False),
    )
    for col in ("username", "address", "at"):
        op.create_index(f"ix_login_failures_{col}", "login_failures", [col])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", _TZ, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    for col in ("at", "event", "user"):
        op.create_index(f"ix_audit_log_{col}", "audit_log", [col])


def downgrade() -> None:
    for col in ("at", "event", "user"):
        op.drop_index(f"ix_audit_log_{col}", table_name="audit_log")
    op.drop_table("audit_log")
    for col in ("username", "address", "at"):
        op.drop_index(f"ix_login_failures_{col}", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_index("ix_sessions_user_id", table_name="sessions")
    op.drop_table("sessions")
