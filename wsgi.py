"""Entry point for gunicorn (`wsgi:app`) and the Flask CLI (`flask --app wsgi ...`)."""

import sys

from cs_platform import create_app
from cs_platform.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"config error: {error}")
