"""``flask reports build``: one report to a file, drawn now (the same code as the web's)."""

from __future__ import annotations

import os

import click
from flask.cli import with_appcontext

from coalition.steering.reports.kinds import kind_names


class _Kinds(click.Choice):
    """The registered kinds, read when the command runs (a new kind needs no change here)."""

    def __init__(self):
        super().__init__([], case_sensitive=True)

    def convert(self, value, param, ctx):
        self.choices = kind_names()
        return super().convert(value, param, ctx)

    def get_metavar(self, param, *args, **kwargs):
        return "[" + "|".join(kind_names()) + "]"


@click.group("reports")
def reports_cli():
    """Steering reports."""


@reports_cli.command("build")
@click.argument("kind", type=_Kinds())
@click.option(
    "--from",
    "start",
    type=click.DateTime(["%Y-%m-%d"]),
    help="First day (YYYY-MM-DD); default: the first day of last month.",
)
@click.option(
    "--to",
    "end",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Last day (YYYY-MM-DD); default: the last day of last month.",
)
@click.option(
    "--lang",
    "language",
    default="en",
    show_default=True,
    help="Language: en, fr, ar, es or pt (an unknown one falls back to English).",
)
@click.option(
    "--confidential",
    is_flag=True,
    help="The staff variant (membership: exact counts, members at risk named; "
    "portfolio: payment references).",
)
@click.option("--round", "round_id", type=int, help="The round of a round report (its id).")
@click.option(
    "--application", "application_id", type=int, help="The application of a dossier (its id)."
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="Where to write the PDF.",
)
@with_appcontext
def build_command(kind, start, end, language, confidential, round_id, application_id, out):
    """Draw a report of KIND for a period and write the PDF to --out.

    Prints the number of pages and the time taken. Nothing is stored in the
    database: this is the command-line twin of the web's report, for checks
    and for sending by hand.
    """
    from coalition.db import utcnow
    from coalition.steering.reports import operations
    from coalition.steering.reports.kinds import ReportRequest, get_kind
    from coalition.steering.reports.rendering import ReportError, build_html, render_pdf

    last_start, last_end = operations.previous_month(utcnow().date())
    start = start.date() if start else last_start
    end = end.date() if end else last_end
    language, unknown = operations.language_or_english(language)
    if unknown:
        click.echo(
            "That language is not one of en, fr, ar, es, pt: the report is in English.", err=True
        )
    options = {}
    subject_option = get_kind(kind).subject_option
    given = {"round_id": round_id, "application_id": application_id}
    if subject_option is not None:
        if given[subject_option] is None:
            flag = "--round" if subject_option == "round_id" else "--application"
            raise click.ClickException(f"A {kind} report needs {flag} ID.")
        options = {subject_option: given[subject_option]}
        # About one round or application as it stands today: the period is not used.
        start = end = utcnow().date()
    try:
        operations.check_period(start, end)
        request = ReportRequest(
            kind=kind,
            start=start,
            end=end,
            language=language,
            confidential=confidential,
            requested_by="flask reports build",
            options=options,
        )
        rendered = render_pdf(build_html(request))
    except ReportError as exc:
        raise click.ClickException(exc.message) from exc
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(rendered.pdf)
    click.echo(f"{out}: {rendered.pages} pages in {rendered.seconds:.2f} s")
