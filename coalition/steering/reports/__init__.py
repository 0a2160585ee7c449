"""Steering reports: PDF reports drawn with WeasyPrint, made in the background and kept.

``kinds`` holds the registry of report kinds (membership today), ``rendering``
the HTML and the PDF, ``fetcher`` what WeasyPrint may fetch, ``operations``
asking, making, keeping and removing reports, ``views`` the pages and ``cli``
``flask reports build``.
"""


def job_handlers():
    """The reports' background jobs: kind -> handler, for ``coalition.jobs.register``."""
    from coalition.steering.reports.operations import JOB_KIND, run_report_job

    return {JOB_KIND: run_report_job}
