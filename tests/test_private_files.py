"""What the application writes (the SQLite database, the uploads, exports) is
0600 in 0700 folders, whatever the umask of the process that writes it."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from coalition import create_app
from coalition.extensions import db
from coalition.grants import files
from coalition.private_files import private_folder, write_private_file
from tests import sample_files
from tests.conftest import app_config

UMASKS = [pytest.param(0o022, id="umask-022"), pytest.param(0o000, id="umask-000")]


@contextmanager
def umask(value: int):
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize("mask", UMASKS)
def test_sqlite_database_is_private_whatever_the_umask(tmp_path, mask):
    database = tmp_path / "instance" / "data" / "coalition.sqlite"
    with umask(mask):
        app = create_app(app_config(f"sqlite:///{database}", str(tmp_path / "instance")))
        with app.app_context():
            connection = db.engine.connect()
            try:
                connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
                connection.exec_driver_sql("INSERT INTO t VALUES (1)")
                connection.commit()
                # The WAL and its index exist while a connection is open.
                written = {
                    name: mode(tmp_path / "instance" / "data" / name)
                    for name in ("coalition.sqlite", "coalition.sqlite-wal", "coalition.sqlite-shm")
                }
            finally:
                connection.close()
                db.engine.dispose()
    assert written == dict.fromkeys(written, 0o600)
    assert mode(tmp_path / "instance") == 0o700
    assert mode(tmp_path / "instance" / "data") == 0o700


@pytest.mark.parametrize("mask", UMASKS)
def test_uploads_are_private_whatever_the_umask(app, tmp_path, monkeypatch, mask):
    folder = tmp_path / "instance" / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_FOLDER", str(folder))
    with umask(mask):
        stored = files.store(sample_files.pdf(), original_name="plan.pdf", current_total=0)
    assert mode(folder / stored.stored_name) == 0o600
    assert mode(folder) == 0o700
    assert mode(tmp_path / "instance") == 0o700


@pytest.mark.parametrize("mask", UMASKS)
def test_cli_export_is_private_even_over_an_open_file(runner, tmp_path, mask):
    path = tmp_path / "register.csv"
    path.write_bytes(b"old")
    path.chmod(0o644)
    with umask(mask):
        result = runner.invoke(args=["members", "export", str(path)])
    assert result.exit_code == 0, result.output
    assert mode(path) == 0o600
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize("mask", UMASKS)
def test_private_folder_and_file_helpers(tmp_path, mask):
    with umask(mask):
        folder = private_folder(tmp_path / "a" / "b")
        write_private_file(folder / "out.bin", b"data")
    assert [mode(tmp_path / "a"), mode(folder), mode(folder / "out.bin")] == [0o700, 0o700, 0o600]
    # An existing folder is the administrator's: left as it is.
    (tmp_path / "shared").mkdir(mode=0o750)
    os.chmod(tmp_path / "shared", 0o750)  # noqa: S103 - wider on purpose
    private_folder(tmp_path / "shared")
    assert mode(tmp_path / "shared") == 0o750


def test_database_file_of_a_url(tmp_path):
    from coalition.private_files import sqlite_path

    assert sqlite_path(None) is None
    assert sqlite_path(":memory:") is None
    assert sqlite_path("file:memdb?mode=memory") is None
    assert sqlite_path(str(tmp_path / "x.sqlite")) == tmp_path / "x.sqlite"
    assert sa.make_url("sqlite://").database in (None, "")
