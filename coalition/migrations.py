"""Alembic, through Flask-Migrate, loaded only where migrations run.

Flask-Migrate imports Alembic, and Alembic imports Mako and Pygments: some 10 MB in
every process that imports them. A web worker never migrates, so ``create_app``
does not load them; it registers ``flask db`` as a group that loads Flask-Migrate's
commands when one is asked for. Code that migrates from Python (the tests, the
benchmark) calls ``attach(app)`` first.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app, g

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def attach(app: Flask) -> None:
    """Bind Flask-Migrate to ``app`` (once): ``app.extensions["migrate"]``, which
    ``flask_migrate.upgrade`` and ``migrations/env.py`` read."""
    if "migrate" in app.extensions:
        return
    from flask_migrate import Migrate

    from coalition.extensions import db
    from coalition.members.search import include_object

    Migrate(
        app,
        db,
        directory=str(MIGRATIONS),
        compare_type=True,
        include_object=include_object,
        command="_flask_migrate_db",  # the real group, behind the lazy one below
    )


class LazyMigrationCommands(click.Group):
    """``flask db …``: Flask-Migrate's group, loaded when a command is looked up (the
    application context is pushed by then)."""

    def _group(self) -> click.Group:
        attach(current_app._get_current_object())
        from flask_migrate.cli import db as real

        return real

    def list_commands(self, ctx):
        return self._group().list_commands(ctx)

    def get_command(self, ctx, name):
        return self._group().get_command(ctx, name)


def _remember_options(directory, x_arg):
    """What Flask-Migrate's own group does with its options: its commands read them."""
    g.directory = directory
    g.x_arg = x_arg


def register(app: Flask) -> None:
    app.cli.add_command(
        LazyMigrationCommands(
            "db",
            help="Perform database migrations (Alembic, through Flask-Migrate).",
            params=[
                click.Option(
                    ["-d", "--directory"],
                    default=None,
                    help='Migration script directory (default is "migrations")',
                ),
                click.Option(
                    ["-x", "--x-arg"],
                    multiple=True,
                    help="Additional arguments consumed by custom env.py scripts",
                ),
            ],
            callback=_remember_options,
        )
    )


def upgrade(revision: str = "heads") -> None:
    """``flask db upgrade`` from Python, in an application context."""
    attach(current_app._get_current_object())
    from flask_migrate import upgrade as migrate_upgrade

    migrate_upgrade(revision=revision)
