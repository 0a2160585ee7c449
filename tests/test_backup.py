"""Backup and restore (issue 15 A): a round trip with the demo data compares
every table and every file; damaged archives, archives of a newer schema and
non-empty targets are refused with nothing changed; nightly backups are kept
once per night, the last BACKUP_KEEP of them.

Each installation here has its own database (SQLite file, or a PostgreSQL
database beside TEST_DATABASE_URL's) and its own instance folder.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coalition.backup import MANIFEST, SQLITE_MEMBER
from tests.installations import Installation, drop_database, file_contents, table_contents

pytestmark = pytest.mark.committing

# Files of an instance folder that are not the installation's data.
NOT_DATA = ("coalition.sqlite", "coalition.sqlite-wal", "coalition.sqlite-shm", "secret_key")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """An installation with the demo data and a generated report under instance/."""
    tmp = tmp_path_factory.mktemp("backup")
    installation = Installation(tmp, "bk_src")
    installation.upgrade()
    result = installation.cli("seed-demo")
    assert result.exit_code == 0, result.output
    reports = installation.instance / "reports" / "2026"
    reports.mkdir(parents=True)
    (reports / "steering-report.pdf").write_bytes(b"%PDF-1.7 a generated report\n")
    (installation.instance / "secret_key").write_text("never-in-a-backup-" + "x" * 40)
    archive = tmp / "archives" / "demo.tar.gz"
    result = installation.cli("backup", "create", str(archive))
    assert result.exit_code == 0, result.output
    installation.archive = archive
    yield installation
    installation.close()
    drop_database(installation.url)


@pytest.fixture
def target(tmp_path):
    """A new installation, migrated and empty."""
    installation = Installation(tmp_path, "bk_dst")
    installation.upgrade()
    yield installation
    installation.close()
    drop_database(installation.url)


def snapshot(installation: Installation):
    return table_contents(installation), file_contents(installation.instance, skip=NOT_DATA)


def rewrite(archive: Path, destination: Path, change) -> Path:
    """A copy of ``archive`` with ``change(name, data) -> data`` applied to each member."""
    with tarfile.open(archive, "r:gz") as old, tarfile.open(destination, "w:gz") as new:
        for member in old:
            data = change(member.name, old.extractfile(member).read())
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))
    return destination


def test_archive_is_private_and_lists_every_file_with_checksum_and_revision(source):
    archive = source.archive
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert not [p for p in archive.parent.iterdir() if p != archive]  # no temporary left
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile(MANIFEST).read())
    recorded = sorted(row[0] for row in table_contents(source)["alembic_version"])
    assert manifest["schema_revisions"] == recorded
    uploads = sorted(p.name for p in source.uploads.iterdir())
    assert uploads, "the demo data has attachments"
    assert sorted(n for n in names if n.startswith("files/uploads/")) == [
        f"files/uploads/{u}" for u in uploads
    ]
    assert "files/instance/reports/2026/steering-report.pdf" in names
    assert not [n for n in names if "secret_key" in n or n.endswith(".sqlite-wal")]
    assert set(manifest["members"]) == set(names) - {MANIFEST}
    assert all(len(m["sha256"]) == 64 for m in manifest["members"].values())


def test_round_trip_restores_every_table_and_every_file(source, target):
    result = target.cli("backup", "restore", str(source.archive))
    assert result.exit_code == 0, result.output
    assert "flask db upgrade" not in result.output  # same schema: nothing to do
    restored_tables, restored_files = snapshot(target)
    source_tables, source_files = snapshot(source)
    assert restored_tables.keys() == source_tables.keys()
    assert sum(len(rows) for rows in source_tables.values()) > 500
    for table, rows in source_tables.items():
        assert restored_tables[table] == rows, table
    assert restored_files == source_files
    assert stat.S_IMODE(target.uploads.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in target.uploads.iterdir())
    assert not (target.instance / "secret_key").exists()


def test_a_damaged_archive_is_refused_and_nothing_changes(source, target, tmp_path):
    first_upload = sorted(p.name for p in source.uploads.iterdir())[0]

    def flip(name, data):
        if name == f"files/uploads/{first_upload}":
            return data[:-1] + bytes([data[-1] ^ 1])
        return data

    damaged = rewrite(source.archive, tmp_path / "damaged.tar.gz", flip)
    before = snapshot(target)
    result = target.cli("backup", "restore", str(damaged))
    assert result.exit_code != 0
    assert "Checksum mismatch" in result.output and first_upload in result.output
    assert snapshot(target) == before


def test_a_truncated_archive_is_refused(source, target, tmp_path):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(source.archive.read_bytes()[:-4000])
    before = snapshot(target)
    result = target.cli("backup", "restore", str(truncated))
    assert result.exit_code != 0
    assert "damaged" in result.output
    assert snapshot(target) == before


def test_an_archive_of_a_newer_schema_is_refused(source, target, tmp_path):
    def newer(name, data):
        if name == MANIFEST:
            manifest = json.loads(data)
            manifest["schema_revisions"] = ["ffffffffffff"]
            return json.dumps(manifest).encode()
        return data

    from_the_future = rewrite(source.archive, tmp_path / "newer.tar.gz", newer)
    before = snapshot(target)
    result = target.cli("backup", "restore", str(from_the_future))
    assert result.exit_code != 0
    assert "ffffffffffff" in result.output and "newer release" in result.output
    assert snapshot(target) == before


def test_a_non_empty_installation_is_refused(source):
    before = snapshot(source)
    result = source.cli("backup", "restore", str(source.archive))
    assert result.exit_code != 0
    assert "not empty" in result.output and "has rows" in result.output
    assert snapshot(source) == before


def test_uploads_left_in_the_target_refuse_the_restore(source, target):
    target.uploads.mkdir(mode=0o700)
    (target.uploads / "0123456789abcdef0123456789abcdef").write_bytes(b"someone else's file")
    before = snapshot(target)
    result = target.cli("backup", "restore", str(source.archive))
    assert result.exit_code != 0 and "not empty" in result.output
    assert snapshot(target) == before


def test_an_older_schema_is_restored_and_asks_for_db_upgrade(tmp_path, target):
    with target.context():
        from coalition.backup import _script_directory

        script = _script_directory()
        head = script.get_revision(script.get_current_head())
        older = head.down_revision
    old = Installation(tmp_path, "bk_old")
    try:
        old.upgrade(older)
        result = old.cli("backup", "create", str(tmp_path / "old.tar.gz"))
        assert result.exit_code == 0, result.output
        result = target.cli("backup", "restore", str(tmp_path / "old.tar.gz"))
        assert result.exit_code == 0, result.output
        assert "run `flask db upgrade`" in result.output
        assert table_contents(target)["alembic_version"] == [(older,)]
        target.upgrade()
        assert table_contents(target)["alembic_version"] == [(head.revision,)]
    finally:
        old.close()
        drop_database(old.url)


def test_nightly_backup_once_per_night_keeps_the_last_n(source, monkeypatch):
    from coalition.backup import nightly_backup

    source.app.config["BACKUP_KEEP"] = 2
    folder = source.backups
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / "keep-me.txt").write_text("not a nightly archive")
    night = datetime(2026, 3, 1, 1, 45, tzinfo=UTC)
    with source.context():
        first = nightly_backup(night)
        assert first is not None and first.name == "coalition-2026-03-01.tar.gz"
        written = first.read_bytes()
        assert nightly_backup(night + timedelta(minutes=30)) is None  # the same night: nothing
        assert first.read_bytes() == written
        nightly_backup(night + timedelta(days=1))
        nightly_backup(night + timedelta(days=2))
    assert sorted(p.name for p in folder.iterdir()) == [
        "coalition-2026-03-02.tar.gz",
        "coalition-2026-03-03.tar.gz",
        "keep-me.txt",
    ]
    with tarfile.open(folder / "coalition-2026-03-03.tar.gz", "r:gz") as tar:
        names = tar.getnames()
    # Backups are not backed up into backups.
    assert not [n for n in names if "coalition-2026" in n]
    assert SQLITE_MEMBER in names or "database/coalition.sql" in names


def test_the_scheduler_runs_the_nightly_backup_at_backup_hour(app):
    from coalition.scheduler import build_scheduler

    app.config["BACKUP_HOUR"] = 4
    job = build_scheduler(app).get_job("backup_nightly")
    assert job is not None
    assert "hour='4'" in str(job.trigger)


def test_an_older_pg_dump_than_the_server_is_refused_with_what_to_install(
    source, tmp_path, monkeypatch
):
    if source.app.extensions["sqlalchemy"].engines[None].dialect.name != "postgresql":
        pytest.skip("pg_dump is for PostgreSQL")
    fake = tmp_path / "bin" / "pg_dump"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 11.22 (Debian 11.22-1)'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    result = source.cli("backup", "create", str(tmp_path / "never.tar.gz"))
    assert result.exit_code != 0
    assert "pg_dump is version 11" in result.output
    assert "apt-get install postgresql-client-" in result.output
    assert not (tmp_path / "never.tar.gz").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bin"]  # no temporary left either
