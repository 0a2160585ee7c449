"""grants: a partial index of the paid tranches, and open reports by due date with their grant

Revision ID: b7d41c9e2f63
Revises: 43bba70a3f5d
Create Date: 2026-12-01 17:40:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b7d41c9e2f63"
down_revision = "43bba70a3f5d"
branch_labels = None
depends_on = None


def upgrade():
    # Indexes only: created and dropped in place (no table is rebuilt).
    op.create_index(
        "ix_award_tranches_paid",
        "award_tranches",
        ["award_id", "amount"],
        unique=False,
        sqlite_where=sa.text("paid_on IS NOT NULL"),
        postgresql_where=sa.text("paid_on IS NOT NULL"),
    )
    op.create_index(
        "ix_grantee_reports_status_due_award",
        "grantee_reports",
        ["status", "due_on", "award_id"],
        unique=False,
    )
    op.drop_index("ix_grantee_reports_status_due", table_name="grantee_reports")


def downgrade():
    op.create_index(
        "ix_grantee_reports_status_due", "grantee_reports", ["status", "due_on"], unique=False
    )
    op.drop_index("ix_grantee_reports_status_due_award", table_name="grantee_reports")
    op.drop_index("ix_award_tranches_paid", table_name="award_tranches")
