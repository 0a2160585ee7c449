"""one-time form tokens: used_form_tokens

A create form's token, hashed, spent by the first post that creates, with
where its result is (coalition.form_tokens).

Revision ID: 7a3e5c1f9d20
Revises: afdb34ad0acf
Create Date: 2026-12-01 14:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '7a3e5c1f9d20'
down_revision = 'afdb34ad0acf'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'used_form_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('result_url', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_used_form_tokens')),
        sa.UniqueConstraint('key', name=op.f('uq_used_form_tokens_key')),
    )
    with op.batch_alter_table('used_form_tokens', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_used_form_tokens_created_at'), ['created_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('used_form_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_used_form_tokens_created_at'))
    op.drop_table('used_form_tokens')
