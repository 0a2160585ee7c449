"""A web worker stays light: heavy libraries load where they are used, not at start-up.

WeasyPrint (PDFs), pikepdf (checking uploaded PDFs), openpyxl (workbooks),
zxcvbn's word lists (choosing a password) and Alembic with Mako and Pygments
(migrations, about 10 MB) each cost megabytes that every worker would
otherwise keep, for requests most workers never see. ``make
bench`` reports a worker's resident memory after the pages (target: under
100 MB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap


def _environment(tmp_path) -> dict:
    """A development app of its own, in ``tmp_path``, for a child process."""
    return {
        **os.environ,
        "COALITION_ENV": "development",
        "COALITION_INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": "subprocess-secret-key-that-is-long-enough-for-checks",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
        "RATELIMIT_STORAGE_URI": "memory://",
        "LOG_LEVEL": "WARNING",
    }


HEAVY = (
    "weasyprint",
    "pikepdf",
    "openpyxl",
    "zxcvbn",
    "flask_migrate",
    "alembic",
    "mako",
    "pygments",
)


def test_18_creating_the_app_and_serving_pages_imports_no_heavy_module(tmp_path):
    script = textwrap.dedent(
        """
        import json
        import sys

        from coalition import create_app

        app = create_app()
        client = app.test_client()
        statuses = [client.get(path).status_code for path in ("/", "/sign-in", "/sign-up")]
        print(json.dumps({
            "statuses": statuses,
            "loaded": sorted({name.split(".")[0] for name in sys.modules}),
        }))
        """
    )
    env = _environment(tmp_path)
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["statuses"] == [200, 200, 200]
    assert "flask" in report["loaded"]  # the list really is the worker's modules
    assert [name for name in HEAVY if name in report["loaded"]] == []


def test_a_common_password_is_still_refused_once_the_list_loads_on_demand():
    from coalition.accounts.passwords import password_problem

    assert password_problem("password1234") is not None
    assert password_problem("Qx7 lantern orbit") is None


def test_flask_db_loads_the_migrations_when_it_runs(tmp_path):
    """``flask db`` is registered without Alembic; its commands load it and migrate."""
    env = {**_environment(tmp_path), "FLASK_APP": "wsgi"}
    flask = [sys.executable, "-m", "flask"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = lambda *args: subprocess.run(  # noqa: E731
        [*flask, *args], env=env, cwd=root, capture_output=True, text=True, timeout=120
    )
    upgraded = run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    current = run("db", "current")
    assert current.returncode == 0 and "(head)" in current.stdout, current.stderr
    checked = run("db", "check")
    assert checked.returncode == 0 and "No new upgrade operations" in checked.stdout, (
        checked.stdout + checked.stderr
    )
