"""``flask members import PATH [--dry-run]`` and ``flask members export PATH``.

The same code as the web pages: ``importing.read_table``, ``plan`` and
``commit``, and ``exporter.export_members``. The commands commit the session
themselves, once, at the end.
"""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from coalition.extensions import db

NAME_WIDTH = 50


@click.group("members")
def members_cli():
    """The member register: import and export of the member list."""


def _clip(text: str, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def print_report(report: dict, *, only_problems: bool = False) -> None:
    """The dry run as a table: line, action, name, and every problem of the row."""
    from coalition.members.importing import (
        action_label,
        column_note_message,
        duplicate_message,
        row_error_message,
    )

    described = report["file"]
    click.echo(
        f"{described['filename']}: {described['format'].upper()}"
        + (f", {described['encoding']}" if described.get("encoding") else "")
        + (f", {described['delimiter']}-separated" if described.get("delimiter") else "")
        + (f", sheet {described['sheet']}" if described.get("sheet") else "")
        + f"; column names on line {described['header_line']}."
    )
    for note in described.get("column_notes") or []:
        click.echo(column_note_message(note))
    if described["ignored"]:
        click.echo("Columns not imported: " + ", ".join(described["ignored"]))
    click.echo("")
    click.echo(f"{'Line':>6}  {'Action':<28}  {'Name':<{NAME_WIDTH}}  Problems")
    click.echo(f"{'-' * 6}  {'-' * 28}  {'-' * NAME_WIDTH}  {'-' * 30}")
    for row in report["rows"]:
        problems = [row_error_message(e) for e in row["errors"]]
        problems += [duplicate_message(d) for d in row["duplicates"]]
        if only_problems and not problems:
            continue
        action = action_label(row)
        if row["changes"]:
            action += " (" + ", ".join(row["changes"]) + ")"
        name = _clip(row["name"] or "(no name)", NAME_WIDTH)
        first = problems[0] if problems else ""
        line = f"{row['row']:>6}  {_clip(action, 28):<28}  {name:<{NAME_WIDTH}}  {first}"
        click.echo(line.rstrip())
        for more in problems[1:]:
            click.echo(f"{'':>6}  {'':<28}  {'':<{NAME_WIDTH}}  {more}")
    totals = report["totals"]
    click.echo("")
    click.echo(
        f"{totals['rows']} rows: {totals['create']} to create, {totals['update']} to update, "
        f"{totals['unchanged']} unchanged, {totals['skip']} skipped "
        f"({totals['errors']} with errors, {totals['held_duplicates']} likely duplicates, "
        f"{totals['repeats']} repeated in the file)."
    )


def _actor(email: str | None):
    from coalition.accounts.models import User, normalise_email

    if not email:
        return None
    user = db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise click.BadParameter(f"no account with the email {email}", param_hint="--as")
    return user


def _read(path: Path) -> bytes:
    from coalition.members.importing import MAX_IMPORT_BYTES, ImportFileError

    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise click.ClickException(ImportFileError("too_big").message)
    return path.read_bytes()


@members_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and print the report; write nothing.")
@click.option("--sheet", help="The sheet to import, for a workbook with several sheets.")
@click.option("--skip-errors", is_flag=True, help="Import the other rows when some have errors.")
@click.option(
    "--include-duplicates", is_flag=True, help="Import the rows that look like duplicates too."
)
@click.option("--problems-only", is_flag=True, help="List only the rows with problems.")
@click.option("--as", "actor_email", help="The email of the account the audit log names.")
@with_appcontext
def import_command(
    path, dry_run, sheet, skip_errors, include_duplicates, problems_only, actor_email
):
    """Import a member list (CSV or XLSX) into the register, all or nothing."""
    from coalition.members import importing

    actor = _actor(actor_email)
    try:
        table = importing.read_table(_read(path), path.name, sheet)
    except importing.ImportFileError as exc:
        raise click.ClickException(exc.message)
    checked = importing.plan(table, include_duplicates=include_duplicates)
    print_report(checked.report, only_problems=problems_only)
    if dry_run:
        click.echo("Dry run: nothing was written.")
        return
    try:
        counts = importing.commit(
            checked, actor, skip_errors=skip_errors, include_duplicates=include_duplicates
        )
    except importing.ImportRefused as exc:
        db.session.rollback()
        raise click.ClickException(exc.message + " (--skip-errors)")
    db.session.commit()
    click.echo(
        f"Imported: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged, {counts['skipped']} skipped."
    )


@members_cli.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--as", "actor_email", help="The email of the account the audit log names.")
@click.option(
    "--field-names", is_flag=True, help="Machine column names (country_code…) as the header row."
)
@with_appcontext
def export_command(path, actor_email, field_names):
    """Export the whole register, every field, to PATH (.csv or .xlsx)."""
    from coalition.members.exporter import FORMATS, export_members
    from coalition.members.queries import MemberFilters
    from coalition.private_files import write_private_file

    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise click.BadParameter("the file name must end in .csv or .xlsx", param_hint="PATH")
    actor = _actor(actor_email)
    data, count = export_members(
        MemberFilters(),
        staff=True,
        fmt=fmt,
        reader=None,
        actor=actor,
        via="cli",
        field_names=field_names,
    )
    # Personal data: readable by its owner only.
    write_private_file(path, data)
    db.session.commit()
    click.echo(f"Exported {count} members to {path}.")
