"""awards tranches and grantee reports

Revision ID: afdb34ad0acf
Revises: 3523f1f1de0e
Create Date: 2026-12-01 14:35:11.553752

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'afdb34ad0acf'
down_revision = '3523f1f1de0e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('awards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('active', 'completed', 'cancelled', name='grantstatus', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('reduction_reason', sa.Text(), nullable=True),
    sa.Column('conditions', sa.Text(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('payee', sa.Enum('organisation', 'fiscal_host', name='payee', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('payee_name', sa.String(length=300), nullable=False),
    sa.Column('payee_country', sa.String(length=2), nullable=True),
    sa.Column('awarded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('awarded_by_id', sa.Integer(), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancellation_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_awards_amount_positive')),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_awards_ends_after_start')),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_awards_application_id_applications')),
    sa.ForeignKeyConstraint(['awarded_by_id'], ['users.id'], name=op.f('fk_awards_awarded_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_awards_round_id_rounds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_awards')),
    sa.UniqueConstraint('application_id', name=op.f('uq_awards_application_id'))
    )
    with op.batch_alter_table('awards', schema=None) as batch_op:
        batch_op.create_index('ix_awards_round_status', ['round_id', 'status'], unique=False)

    op.create_table('grantee_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('award_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('interim', 'final', name='reportkind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('due', 'submitted', 'changes_requested', 'accepted', name='reportstatus', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('activities', sa.Text(), nullable=True),
    sa.Column('results', sa.Text(), nullable=True),
    sa.Column('problems', sa.Text(), nullable=True),
    sa.Column('spending_note', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('submissions', sa.Integer(), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('staff_comment', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['award_id'], ['awards.id'], name=op.f('fk_grantee_reports_award_id_awards'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['users.id'], name=op.f('fk_grantee_reports_reviewed_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['users.id'], name=op.f('fk_grantee_reports_submitted_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grantee_reports'))
    )
    with op.batch_alter_table('grantee_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grantee_reports_award_id'), ['award_id'], unique=False)
        batch_op.create_index('ix_grantee_reports_status_due', ['status', 'due_on'], unique=False)

    op.create_table('award_tranches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('award_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('planned_on', sa.Date(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('condition_report_id', sa.Integer(), nullable=True),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('payment_reference', sa.String(length=100), nullable=True),
    sa.Column('paid_by_id', sa.Integer(), nullable=True),
    sa.Column('override_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('(paid_on IS NULL) = (payment_reference IS NULL)', name=op.f('ck_award_tranches_paid_with_reference')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_award_tranches_amount_positive')),
    sa.ForeignKeyConstraint(['award_id'], ['awards.id'], name=op.f('fk_award_tranches_award_id_awards'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['condition_report_id'], ['grantee_reports.id'], name=op.f('fk_award_tranches_condition_report_id_grantee_reports'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['paid_by_id'], ['users.id'], name=op.f('fk_award_tranches_paid_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_award_tranches'))
    )
    with op.batch_alter_table('award_tranches', schema=None) as batch_op:
        batch_op.create_index('ix_award_tranches_award_planned', ['award_id', 'planned_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_award_tranches_condition_report_id'), ['condition_report_id'], unique=False)
        batch_op.create_index('ix_award_tranches_planned_paid', ['planned_on', 'paid_on'], unique=False)

    op.create_table('grantee_report_attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('original_name', sa.String(length=255), nullable=False),
    sa.Column('stored_name', sa.String(length=64), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['grantee_reports.id'], name=op.f('fk_grantee_report_attachments_report_id_grantee_reports')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_grantee_report_attachments_uploaded_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grantee_report_attachments')),
    sa.UniqueConstraint('stored_name', name=op.f('uq_grantee_report_attachments_stored_name'))
    )
    with op.batch_alter_table('grantee_report_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grantee_report_attachments_report_id'), ['report_id'], unique=False)

    op.create_table('grantee_report_spending',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('budget_line_id', sa.Integer(), nullable=False),
    sa.Column('spent', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('spent >= 0', name=op.f('ck_grantee_report_spending_spent_positive')),
    sa.ForeignKeyConstraint(['budget_line_id'], ['budget_lines.id'], name=op.f('fk_grantee_report_spending_budget_line_id_budget_lines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['report_id'], ['grantee_reports.id'], name=op.f('fk_grantee_report_spending_report_id_grantee_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grantee_report_spending')),
    sa.UniqueConstraint('report_id', 'budget_line_id', name=op.f('uq_grantee_report_spending_report_id_budget_line_id'))
    )
    with op.batch_alter_table('grantee_report_spending', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grantee_report_spending_budget_line_id'), ['budget_line_id'], unique=False)

    op.create_table('grantee_report_submissions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('outcome', sa.Enum('due', 'submitted', 'changes_requested', 'accepted', name='submission_outcome', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['answered_by_id'], ['users.id'], name=op.f('fk_grantee_report_submissions_answered_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['report_id'], ['grantee_reports.id'], name=op.f('fk_grantee_report_submissions_report_id_grantee_reports'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['users.id'], name=op.f('fk_grantee_report_submissions_submitted_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grantee_report_submissions')),
    sa.UniqueConstraint('report_id', 'number', name=op.f('uq_grantee_report_submissions_report_id_number'))
    )


def downgrade():
    op.drop_table('grantee_report_submissions')
    with op.batch_alter_table('grantee_report_spending', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grantee_report_spending_budget_line_id'))

    op.drop_table('grantee_report_spending')
    with op.batch_alter_table('grantee_report_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_grantee_report_attachments_report_id'))

    op.drop_table('grantee_report_attachments')
    with op.batch_alter_table('award_tranches', schema=None) as batch_op:
        batch_op.drop_index('ix_award_tranches_planned_paid')
        batch_op.drop_index(batch_op.f('ix_award_tranches_condition_report_id'))
        batch_op.drop_index('ix_award_tranches_award_planned')

    op.drop_table('award_tranches')
    with op.batch_alter_table('grantee_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_grantee_reports_status_due')
        batch_op.drop_index(batch_op.f('ix_grantee_reports_award_id'))

    op.drop_table('grantee_reports')
    with op.batch_alter_table('awards', schema=None) as batch_op:
        batch_op.drop_index('ix_awards_round_status')

    op.drop_table('awards')
