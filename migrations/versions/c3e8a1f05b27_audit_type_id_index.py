"""audit log: an index of (object_type, id), for the newest row about a kind of object

Revision ID: c3e8a1f05b27
Revises: b7d41c9e2f63
Create Date: 2026-12-01 18:40:00
"""

from alembic import op

revision = "c3e8a1f05b27"
down_revision = "b7d41c9e2f63"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_audit_entries_type_id", "audit_entries", ["object_type", "id"], unique=False
    )


def downgrade():
    op.drop_index("ix_audit_entries_type_id", table_name="audit_entries")
