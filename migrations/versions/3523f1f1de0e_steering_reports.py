"""steering reports: generated_reports (the PDFs kept, who asked, the parameters)

Revision ID: 3523f1f1de0e
Revises: 7a3e9c41d2b8
Create Date: 2026-12-01 14:15:28.887529

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3523f1f1de0e'
down_revision = '7a3e9c41d2b8'
branch_labels = None
depends_on = None


def upgrade():

    op.create_table('generated_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('confidential', sa.Boolean(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('pending_key', sa.String(length=200), nullable=True),
    sa.Column('schedule_key', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('generated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('file_name', sa.String(length=64), nullable=True),
    sa.Column('size_bytes', sa.Integer(), nullable=True),
    sa.Column('page_count', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_generated_reports_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'], name=op.f('fk_generated_reports_requested_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_generated_reports')),
    sa.UniqueConstraint('pending_key', name=op.f('uq_generated_reports_pending_key')),
    sa.UniqueConstraint('schedule_key', name=op.f('uq_generated_reports_schedule_key'))
    )
    with op.batch_alter_table('generated_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_generated_reports_job_id'), ['job_id'], unique=False)
        batch_op.create_index('ix_generated_reports_kind_created', ['kind', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_generated_reports_requested_by_id'), ['requested_by_id'], unique=False)




def downgrade():

    with op.batch_alter_table('generated_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_generated_reports_requested_by_id'))
        batch_op.drop_index('ix_generated_reports_kind_created')
        batch_op.drop_index(batch_op.f('ix_generated_reports_job_id'))

    op.drop_table('generated_reports')

