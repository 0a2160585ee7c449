"""The migrations build exactly the models' schema, and go down and up again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from coalition.config import normalise_db_url
from coalition.extensions import db
from coalition.members.search import include_object

ROOT = Path(__file__).resolve().parent.parent


def test_migrated_schema_matches_the_models(app):
    # The session's schema was built by `flask db upgrade` (see conftest).
    context = MigrationContext.configure(
        db.session.connection(),
        opts={
            "compare_type": True,
            "compare_server_default": False,
            "include_object": include_object,
        },
    )
    assert compare_metadata(context, db.metadata) == []


def fresh_database_url(tmp_path) -> str:
    """An empty database of the kind the suite runs on."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgres"):
        return f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    base, _, name = url.rpartition("/")
    fresh = f"{name.split('?')[0]}_migrations"
    admin = sa.create_engine(normalise_db_url(url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{fresh}"')
        conn.exec_driver_sql(f'CREATE DATABASE "{fresh}"')
    admin.dispose()
    return f"{base}/{fresh}"


def test_upgrade_downgrade_upgrade_from_empty(tmp_path):
    """On an empty database: upgrade, check, downgrade to nothing, upgrade again."""
    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "DATABASE_URL": fresh_database_url(tmp_path),
        "SECRET_KEY": "migration-test-secret-key-long-enough-to-pass",
        "COALITION_INSTANCE_PATH": str(tmp_path),
    }
    flask = [sys.executable, "-m", "flask"]

    def run(*args):
        result = subprocess.run(
            [*flask, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    run("db", "upgrade")
    assert "No new upgrade operations detected" in run("db", "check")
    run("db", "downgrade", "base")
    run("db", "upgrade")
    assert "No new upgrade operations detected" in run("db", "check")
