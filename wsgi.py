"""WSGI entry point: ``gunicorn wsgi:app``."""
import sys

from crm import create_app
from crm.errors import ConfigurationError

try:
    app = create_app()
except ConfigurationError as exc:
    print(f"muster: {exc}", file=sys.stderr)
    sys.exit(2)
