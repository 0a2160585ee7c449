"""staff digest of new submissions: applications.staff_notified_at

Revision ID: 0b245ee466a3
Revises: 34ab9fea2afc
Create Date: 2026-11-28 13:29:10.159724

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0b245ee466a3'
down_revision = '34ab9fea2afc'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('staff_notified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_applications_staff_notified', ['staff_notified_at', 'submitted_at'], unique=False)

    # Staff were emailed at once about every submission made before the daily
    # digest existed: count those as notified, so the first digest skips them.
    applications = sa.table(
        'applications',
        sa.column('submitted_at', sa.DateTime(timezone=True)),
        sa.column('staff_notified_at', sa.DateTime(timezone=True)),
    )
    op.execute(
        applications.update()
        .where(applications.c.submitted_at.is_not(None))
        .values(staff_notified_at=applications.c.submitted_at)
    )


def downgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index('ix_applications_staff_notified')
        batch_op.drop_column('staff_notified_at')
