"""WSGI entry point: `gunicorn wsgi:app`, and FLASK_APP for `flask ...` commands."""

import sys

from relance import create_app
from relance.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:  # one readable line instead of a traceback
    sys.exit(f"relance: {exc}")
