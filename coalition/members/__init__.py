"""The member registry: models, operations, queries, import and export, figures, views."""


def blueprints():
    """The registry's blueprints, with every route module imported so its routes exist."""
    from coalition.members import contact_views, figures, io_views  # noqa: F401 - they add routes to bp
    from coalition.members.public import public_bp
    from coalition.members.views import bp

    return bp, public_bp


def job_handlers():
    """The registry's background jobs: kind -> handler, for ``coalition.jobs.register``."""
    from coalition.members.importing import JOB_KIND, run_import_job

    return {JOB_KIND: run_import_job}
