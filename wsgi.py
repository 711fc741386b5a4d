"""Entry point for gunicorn (`wsgi:app`) and the Flask CLI (`flask --app wsgi ...`)."""

import gc
import sys

from cs_platform import create_app
from cs_platform.config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"config error: {error}")

# The ~280,000 objects made at start-up (pandas, scikit-learn, XGBoost, the app) live as long
# as the process: keep them out of the garbage collector's passes, each of which would otherwise
# walk them all and stall a request for ~0.1 s.
gc.freeze()
