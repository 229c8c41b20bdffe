"""session version, last login, login failure browser

users.session_version is part of the identity kept in the session and remember-me cookies ("id:version",
User.get_id): a new version ends every session of the user (logout, password change or reset, deactivation, "log
out everywhere else"). Existing users start at 1; the sessions open before the upgrade held the bare id and end
(everyone logs in once more). users.last_login_at: the last login with the password (none known before).
login_failures.device: the known-browser id a failed login came with ('' for the failures recorded before), so the
login throttle counts a known browser's failures on their own (services/throttle.py).
Plain ADD COLUMNs with server defaults for the existing rows (no table copy on SQLite).

Revision ID: ce603ad3cc19
Revises: 11aee30f1ce5
Create Date: 2026-12-04 03:56:09.404795

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'ce603ad3cc19'
down_revision = '11aee30f1ce5'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('session_version', sa.Integer(), nullable=False, server_default='1'))
    op.add_column('users', sa.Column('last_login_at', sa.DateTime(), nullable=True))
    op.add_column('login_failures', sa.Column('device', sa.String(length=32), nullable=False, server_default=''))


def downgrade():
    op.drop_column('login_failures', 'device')
    op.drop_column('users', 'last_login_at')
    op.drop_column('users', 'session_version')
