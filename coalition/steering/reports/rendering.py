"""From a report request to a PDF: the HTML in the reader's language, then WeasyPrint.

``build_html`` renders the kind's template with Flask-Babel's locale forced
to the report's language (strings without a translation read in English),
in the reader's time zone. ``render_pdf`` hands the finished HTML to
WeasyPrint in a child process with a time limit (S29): a pathological
document is stopped, and the process that asked (the job runner, or a
command) carries on. WeasyPrint fetches through ``StaticOnlyFetcher`` only
(S27), and writes a tagged PDF/UA-1 document (title, language, structure
tree, alternative text from each chart's title).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flask import current_app, g, render_template
from flask_babel import force_locale, format_date
from flask_babel import gettext as _

from coalition.config import LANGUAGES, RTL_LANGUAGES
from coalition.db import utcnow
from coalition.i18n import _format_datetime, forget_cached_labels
from coalition.steering.reports.kinds import ReportRequest, get_kind

if TYPE_CHECKING:  # WeasyPrint and pikepdf load in the job that draws, not at start-up
    from coalition.steering.reports.fetcher import StaticOnlyFetcher

log = logging.getLogger("coalition.reports")

# Seconds a render may take before it is stopped (REPORT_RENDER_SECONDS overrides it).
RENDER_SECONDS = 120
PDF_VARIANT = "pdf/ua-1"


class ReportError(Exception):
    """A report that cannot be made as asked; ``message`` says why, for the reader."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class RenderTimeout(ReportError):
    """The render ran past its time limit and was stopped."""


@dataclass(frozen=True)
class RenderedReport:
    pdf: bytes
    pages: int
    seconds: float


def css_string(text: str) -> str:
    """A CSS string literal of ``text`` (for page headers and footers)."""
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ")
    return f'"{escaped}"'


def page_of_pages_css() -> str:
    """``"Page " counter(page) " of " counter(pages)`` from one translatable sentence."""
    marker_page, marker_pages = "\x00PAGE\x00", "\x00PAGES\x00"
    text = _("Page %(page)s of %(pages)s", page=marker_page, pages=marker_pages)
    parts = []
    for piece in (
        text.replace(marker_pages, "\x01pages\x01")
        .replace(marker_page, "\x01page\x01")
        .split("\x01")
    ):
        if piece == "page":
            parts.append("counter(page)")
        elif piece == "pages":
            parts.append("counter(pages)")
        elif piece:
            parts.append(css_string(piece))
    return " ".join(parts)


def _generated_text(moment: datetime, zone: str) -> str:
    try:
        tz = ZoneInfo(zone)
    except Exception:
        tz, zone = ZoneInfo("UTC"), "UTC"
    from flask_babel import get_locale

    text = _format_datetime(moment.astimezone(tz), "long", get_locale())
    return text if zone == "UTC" or "UTC" in text else f"{text} ({zone})"


def build_html(request: ReportRequest, *, now: datetime | None = None) -> str:
    """The report's HTML in its language, ready for WeasyPrint. A fixed number of queries."""
    kind = get_kind(request.kind)
    if kind is None:
        raise ReportError(_("There is no report of that kind."), "kind")
    language = request.language if request.language in LANGUAGES else "en"
    now = now or utcnow()
    # Flask-Babel forces a locale only where the app context's g holds something.
    g.setdefault("_report_language", language)
    with force_locale(language):
        forget_cached_labels()
        context = kind.gather(request)
        confidential = kind.is_confidential(request)
        html = render_template(
            f"reports/{kind.template}",
            report_kind=kind,
            request=request,
            lang=language,
            dir="rtl" if language in RTL_LANGUAGES else "ltr",
            confidential=confidential,
            coalition_name=current_app.config.get("COALITION_NAME", "Coalition"),
            period_text=_(
                "%(start)s to %(end)s",
                start=format_date(request.start, "long"),
                end=format_date(request.end, "long"),
            ),
            generated_text=_generated_text(now, request.timezone),
            generated_by=request.requested_by or _("the scheduler"),
            page_of_pages=page_of_pages_css(),
            running_header=css_string(_("Confidential — steering group")) if confidential else None,
            **context,
        )
    forget_cached_labels()
    return html


# The fonts the reports name: Latin with every accent, and Arabic script (Debian's
# fonts-noto-core). Without them Pango would fall back to any font, or print boxes.
REQUIRED_FONTS = ("Noto Sans", "Noto Naskh Arabic")
FONT_PACKAGE = "fonts-noto-core"


FONT_FILES = {"Noto Sans": "NotoSans-Regular.*", "Noto Naskh Arabic": "NotoNaskhArabic-Regular.*"}
FONT_FOLDERS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")


@cache
def missing_fonts() -> tuple[str, ...]:
    """The report fonts fontconfig does not know (looked up once per process)."""
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            listed = subprocess.run(  # noqa: S603 - a fixed command, no user input
                [fc_list, ":", "family"], capture_output=True, text=True, timeout=20, check=False
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            listed = ""
        families = {name.strip() for line in listed.splitlines() for name in line.split(",")}
        return tuple(font for font in REQUIRED_FONTS if font not in families)
    # No fontconfig tools: look for the font files where fontconfig finds them.
    folders = [Path(f).expanduser() for f in FONT_FOLDERS]
    return tuple(
        font
        for font in REQUIRED_FONTS
        if not any(
            next(folder.rglob(FONT_FILES[font]), None) for folder in folders if folder.is_dir()
        )
    )


def check_fonts() -> None:
    missing = missing_fonts()
    if missing:
        raise ReportError(
            _(
                "The fonts of the reports are missing (%(fonts)s): install the %(package)s "
                "package (sudo apt-get install %(package)s).",
                fonts=", ".join(missing),
                package=FONT_PACKAGE,
            )
        )


def fetcher_for_app() -> StaticOnlyFetcher:
    from coalition.steering.reports.fetcher import StaticOnlyFetcher

    return StaticOnlyFetcher(current_app.static_folder, current_app.config["BASE_URL"])


def base_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/"


def write_pdf(html: str, fetcher: StaticOnlyFetcher, base: str) -> bytes:
    """WeasyPrint itself, in this process: the HTML to a tagged PDF/UA-1 document."""
    return _draw(html, fetcher, base)[0]


def _draw(html: str, fetcher: StaticOnlyFetcher, base: str) -> tuple[bytes, int]:
    """The PDF and its number of pages (as laid out: no PDF parser needed to count them)."""
    from weasyprint import HTML

    document = HTML(string=html, base_url=base, url_fetcher=fetcher).render(pdf_variant=PDF_VARIANT)
    pages = len(document.pages)
    return document.write_pdf(pdf_variant=PDF_VARIANT), pages


def _child(html: str, fetcher: StaticOnlyFetcher, base: str, out: str) -> None:
    """The render, in the forked child: the PDF to ``out`` (whole, or not at all), and
    its number of pages to ``out + ".pages"``.

    The child leaves with ``os._exit``: it was forked from the job runner,
    often from one of the scheduler's threads, and must run none of the
    parent's exit handlers (thread pools, database connections).
    """
    code = 1
    try:
        data, pages = _draw(html, fetcher, base)
        Path(out + ".pages").write_text(str(pages))
        partial = out + ".part"
        with open(partial, "wb") as f:
            f.write(data)
        os.replace(partial, out)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def render_pdf(
    html: str,
    *,
    seconds: float | None = None,
    fetcher: StaticOnlyFetcher | None = None,
    base: str | None = None,
) -> RenderedReport:
    """The PDF of ``html``, made in a child process stopped after ``seconds`` (S29).

    Raises ``RenderTimeout`` when the limit is reached, ``ReportError`` when
    WeasyPrint fails; the calling process is never the one that hangs.
    """
    check_fonts()
    if seconds is None:
        seconds = current_app.config.get("REPORT_RENDER_SECONDS", RENDER_SECONDS)
    fetcher = fetcher or fetcher_for_app()
    base = base or base_url()
    started = time.monotonic()
    context = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="coalition-report-") as folder:
        out = os.path.join(folder, "report.pdf")
        process = context.Process(target=_child, args=(html, fetcher, base, out), daemon=True)
        # The child's garbage collector leaves the objects it inherits alone: walking
        # them would copy every page of the parent's heap into the child (copy on write).
        gc.freeze()
        try:
            process.start()
        finally:
            gc.unfreeze()
        process.join(seconds)
        if process.is_alive():
            process.kill()
            process.join()
            raise RenderTimeout(
                _("The report took longer than %(n)s seconds to draw and was stopped.", n=seconds)
            )
        if not os.path.exists(out):
            log.error("report render failed", extra={"fields": {"exitcode": process.exitcode}})
            raise ReportError(_("The report could not be drawn."))
        data = Path(out).read_bytes()
        # Counted by the child: opening the PDF here with pikepdf would cost the job
        # process about 90 MB for a 150-page document (its whole structure tree).
        pages = int(Path(out + ".pages").read_text())
    return RenderedReport(pdf=data, pages=pages, seconds=time.monotonic() - started)
