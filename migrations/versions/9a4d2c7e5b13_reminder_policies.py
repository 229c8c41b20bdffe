"""reminder policies: a named set of levels per customer (issue 21); today's levels become the default policy

`policies` (name, is_default); `reminder_levels.policy_id` (every existing level joins the default policy, "Standard")
with one rank per policy instead of one rank in all; `customers.policy_id` (NULL: the default policy, so every
customer keeps the levels it had).

Revision ID: 9a4d2c7e5b13
Revises: 3f6c1d2a9b70
Create Date: 2026-12-04 17:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '9a4d2c7e5b13'
down_revision = '3f6c1d2a9b70'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'policies',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('is_default', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_policies')),
        sa.UniqueConstraint('name', name=op.f('uq_policies_name')),
    )
    op.execute(sa.text("INSERT INTO policies (id, name, is_default, created_at) "
                       "VALUES (1, 'Standard', :yes, CURRENT_TIMESTAMP)").bindparams(yes=True))
    if op.get_bind().dialect.name == 'postgresql':  # the next policy made gets id 2
        op.execute("SELECT setval(pg_get_serial_sequence('policies', 'id'), 1)")
    with op.batch_alter_table('reminder_levels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_id', sa.Integer(), server_default='1', nullable=False))
        batch_op.drop_constraint('uq_reminder_levels_rank', type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_reminder_levels_policy_id_rank'), ['policy_id', 'rank'])
        batch_op.create_foreign_key(batch_op.f('fk_reminder_levels_policy_id_policies'), 'policies', ['policy_id'],
                                    ['id'], ondelete='RESTRICT')
    with op.batch_alter_table('reminder_levels', schema=None) as batch_op:
        batch_op.alter_column('policy_id', server_default=None)
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_customers_policy_id'), ['policy_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_customers_policy_id_policies'), 'policies', ['policy_id'], ['id'],
                                    ondelete='SET NULL')


def downgrade():
    # the levels of the other policies go (the code before this revision knows one set of levels)
    other = "SELECT r.id FROM reminder_levels r JOIN policies p ON p.id = r.policy_id WHERE NOT p.is_default"
    op.execute(f"DELETE FROM templates WHERE level_id IN ({other})")
    op.execute(f"UPDATE reminders SET level_id = NULL WHERE level_id IN ({other})")
    op.execute(f"DELETE FROM reminder_levels WHERE id IN ({other})")
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_customers_policy_id_policies'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_customers_policy_id'))
        batch_op.drop_column('policy_id')
    with op.batch_alter_table('reminder_levels', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_reminder_levels_policy_id_policies'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_reminder_levels_policy_id_rank'), type_='unique')
        batch_op.create_unique_constraint('uq_reminder_levels_rank', ['rank'])
        batch_op.drop_column('policy_id')
    op.drop_table('policies')
