"""Merge the go-live column and the customers' SIREN / VAT number (two branches made in parallel): no change.

Revision ID: 8c0a00f0fbf5
Revises: b7e41c0d9a25, b7e4f2a9c1d3
Create Date: 2026-12-04 07:48:32.255951

"""

revision = "8c0a00f0fbf5"
down_revision = ("b7e41c0d9a25", "b7e4f2a9c1d3")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
