"""customer SIREN and VAT number (Factur-X import)

A Factur-X / ZUGFeRD / UBL invoice names its buyer by SIREN (legal organisation, scheme 0002) and VAT number:
the e-invoice import matches its buyers on these columns (indexed). Existing customers get '' (none known).
Plain ADD COLUMNs (no table copy on SQLite).

Revision ID: b7e4f2a9c1d3
Revises: 38a89e63422d
Create Date: 2026-12-10 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e4f2a9c1d3'
down_revision = '38a89e63422d'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('customers', sa.Column('siren', sa.String(length=9), nullable=False, server_default=''))
    op.add_column('customers', sa.Column('vat_number', sa.String(length=20), nullable=False, server_default=''))
    op.create_index(op.f('ix_customers_siren'), 'customers', ['siren'], unique=False)
    op.create_index(op.f('ix_customers_vat_number'), 'customers', ['vat_number'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_customers_vat_number'), table_name='customers')
    op.drop_index(op.f('ix_customers_siren'), table_name='customers')
    op.drop_column('customers', 'vat_number')
    op.drop_column('customers', 'siren')
