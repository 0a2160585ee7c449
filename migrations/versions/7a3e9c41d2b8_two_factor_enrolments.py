"""two-factor enrolments: the TOTP secret being set up, kept server-side

Until now the secret travelled in the session cookie (signed, not
encrypted). One row per person, with an expiry.

Revision ID: 7a3e9c41d2b8
Revises: 0a7f6e596b48
Create Date: 2026-12-01 14:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7a3e9c41d2b8'
down_revision = '0a7f6e596b48'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('two_factor_enrolments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_two_factor_enrolments_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_two_factor_enrolments')),
    sa.UniqueConstraint('user_id', name=op.f('uq_two_factor_enrolments_user_id'))
    )
    with op.batch_alter_table('two_factor_enrolments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_two_factor_enrolments_expires_at'), ['expires_at'], unique=False)


def downgrade():
    with op.batch_alter_table('two_factor_enrolments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_two_factor_enrolments_expires_at'))

    op.drop_table('two_factor_enrolments')
