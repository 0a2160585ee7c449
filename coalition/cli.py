"""Command-line tools: ``flask create-user``, ``flask seed-demo``, ``flask scheduler``."""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import with_appcontext

from coalition.extensions import db


def register_cli(app: Flask) -> None:
    app.cli.add_command(create_user_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(deliver_mail_command)
    app.cli.add_command(backup_cli)
    from coalition.members.cli import members_cli

    app.cli.add_command(members_cli)
    from coalition.steering.reports.cli import reports_cli

    app.cli.add_command(reports_cli)


@click.command("create-user")
@click.option("--email", required=True, help="The person's email address.")
@click.option("--name", required=True, help="The person's full name.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    help="A role: convenor, steering, reviewer, applicant or member_contact (repeatable).",
)
@click.option("--language", default="en", show_default=True)
@with_appcontext
def create_user_command(email, name, roles, language):
    """Create a confirmed account. The password is asked for, or read from standard input."""
    from coalition.accounts import operations as ops
    from coalition.accounts.models import Role
    from coalition.accounts.passwords import password_problem

    try:
        role_list = [Role(r) for r in roles]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--role")
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    problem = password_problem(password, user_inputs=[name, email])
    if problem:
        raise click.ClickException(problem)
    try:
        user = ops.create_user(
            email=email, name=name, password=password, roles=role_list, language=language
        )
    except ops.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message)
    db.session.commit()
    click.echo(f"Created user {user.id} <{user.email}> with roles: {', '.join(roles)}")


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@with_appcontext
def seed_demo_command(if_empty):
    """Load the demo data: one account per role, and each area's demo records."""
    from coalition.accounts.models import User
    from coalition.demo import seed

    if if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(User)):
        click.echo("Demo data: the database already has users; nothing loaded.")
        return
    accounts = seed()
    db.session.commit()
    if not accounts:
        click.echo("Demo data loaded; the demo accounts already existed.")
        return
    click.echo("")
    click.echo("Demo accounts (shown once; write them down):")
    width = max(len(a["email"]) for a in accounts)
    for account in accounts:
        click.echo(f"  {account['role']:<15} {account['email']:<{width}}  {account['password']}")
    click.echo(
        "Convenor and steering accounts set up two-factor sign-in with an authenticator app "
        "at their first sign-in."
    )
    click.echo("")


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the scheduler process (one per installation, beside the web server)."""
    from coalition.scheduler import SchedulerAlreadyRunning, run_forever

    try:
        run_forever()
    except SchedulerAlreadyRunning as exc:
        raise click.ClickException(f"Not starting: {exc} (one scheduler per installation).")


@click.command("deliver-mail")
@with_appcontext
def deliver_mail_command():
    """Send the emails that are due now, once (the scheduler does this every few seconds)."""
    from coalition.mail import deliver_due

    counts = deliver_due()
    click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))


@click.group("backup")
def backup_cli():
    """Back up and restore the database, the uploads and the files under instance/."""


@backup_cli.command("create")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def backup_create_command(path):
    """Write one archive (0600) to PATH: database, uploads, instance files, manifest."""
    from coalition.backup import BackupError, create_backup

    try:
        manifest = create_backup(path)
    except BackupError as exc:
        raise click.ClickException(str(exc))
    click.echo(
        f"Backup written to {path}: {len(manifest.members)} files, "
        f"schema revision {', '.join(manifest.revisions)}. "
        "The secret key is not in it: keep it apart (see the README)."
    )


@backup_cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def backup_restore_command(path):
    """Restore the archive at PATH into this empty installation (every checksum checked first)."""
    from coalition.backup import BackupError, restore_backup

    try:
        result = restore_backup(path)
    except BackupError as exc:
        raise click.ClickException(str(exc))
    revisions = ", ".join(result.manifest["schema_revisions"])
    click.echo(
        f"Restored the backup of {result.manifest['created_at']} "
        f"(schema revision {revisions}, {result.files} files)."
    )
    if result.needs_upgrade:
        click.echo(
            "The backup's schema is older than this release: run `flask db upgrade` now, "
            "before serving."
        )
