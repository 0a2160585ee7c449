"""The WSGI entry point: ``gunicorn wsgi:app`` and ``FLASK_APP=wsgi``."""

from coalition import create_app

app = create_app()
