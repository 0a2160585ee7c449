"""Backups: one archive holding the database, the uploads and the files the
application wrote under instance/, with a manifest of SHA-256 checksums and
the schema revision (``flask backup create`` / ``flask backup restore``).

Nothing here names a table or a file: the database is dumped whole (SQLite's
online backup API, or ``pg_dump``), every file under ``UPLOAD_FOLDER`` and
under the instance folder is taken, and "empty" means that every table the
database holds (reflected, not listed) has no row. The secret key is never
in an archive: it is kept apart (see the README, "Backup and restore").

The archive is a gzip-compressed tar, written to a temporary file beside its
destination at 0600 and renamed into place. Its members::

    database/coalition.sqlite   or   database/coalition.sql (pg_dump, plain SQL)
    files/uploads/<stored name>
    files/instance/<path under instance/>
    manifest.json               (last: the checksum of every member above)

A restore extracts into a private temporary folder, checks every checksum
and the schema revision, checks that the installation is empty, and only
then writes anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from flask import current_app

from coalition.extensions import db
from coalition.private_files import FILE_MODE, private_folder, sqlite_path

FORMAT = "coalition-backup/1"
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/coalition.sqlite"
POSTGRES_MEMBER = "database/coalition.sql"
UPLOADS_PREFIX = "files/uploads/"
INSTANCE_PREFIX = "files/instance/"
CHUNK = 1024 * 1024
# Nightly archives: coalition-2026-12-01.tar.gz
NIGHTLY_PATTERN = re.compile(r"^coalition-(\d{4}-\d{2}-\d{2})\.tar\.gz$")


class BackupError(Exception):
    """A backup or a restore refused or failed; nothing was changed."""


@dataclass
class Manifest:
    created_at: str
    dialect: str
    revisions: list[str]
    members: dict[str, dict] = field(default_factory=dict)

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "created_at": self.created_at,
                "dialect": self.dialect,
                "schema_revisions": self.revisions,
                "members": self.members,
            },
            indent=2,
            sort_keys=True,
        ).encode()


# -- What an installation is made of ----------------------------------------------


def _engine() -> sa.Engine:
    return db.engine


def _dialect() -> str:
    return _engine().dialect.name


def _sqlite_file() -> Path | None:
    if _dialect() != "sqlite":
        return None
    return sqlite_path(_engine().url.database)


def database_revisions() -> list[str]:
    """The Alembic revisions recorded in the database (empty when it has none)."""
    with _engine().connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return []
        return sorted(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def _script_directory():
    from alembic.script import ScriptDirectory

    from coalition.migrations import MIGRATIONS

    return ScriptDirectory(str(MIGRATIONS))


def known_revision(revision: str) -> bool:
    try:
        return _script_directory().get_revision(revision) is not None
    except Exception:  # alembic's ResolutionError / CommandError for an unknown revision
        return False


def code_heads() -> list[str]:
    return sorted(_script_directory().get_heads())


def _excluded_paths() -> set[Path]:
    """Files under instance/ never put in an archive: the secret key, the SQLite
    database (dumped apart) and its journals."""
    instance = Path(current_app.instance_path)
    excluded = {instance / "secret_key"}
    key_file = os.environ.get("SECRET_KEY_FILE")
    if key_file:
        excluded.add(Path(key_file))
    database = _sqlite_file()
    if database is not None:
        for suffix in ("", "-wal", "-shm", "-journal", "-scheduler.lock"):
            excluded.add(Path(f"{database}{suffix}"))
    return {p.resolve() for p in excluded}


def _excluded_folders() -> list[Path]:
    """Folders under instance/ kept out of the instance part: the uploads (their own
    part) and the backups themselves."""
    folders = [Path(current_app.config["UPLOAD_FOLDER"])]
    if current_app.config.get("BACKUP_FOLDER"):
        folders.append(Path(current_app.config["BACKUP_FOLDER"]))
    return [f.resolve() for f in folders]


def _is_temporary(name: str) -> bool:
    # Writes in progress: the attachment store's ".<name>.part", this module's ".backup-*".
    return name.endswith(".part") or name.startswith(".backup-")


def _walk(root: Path, skip_folders: list[Path], skip_files: set[Path]):
    """Every regular file under ``root`` as (path, path relative to root), sorted."""
    if not root.is_dir():
        return
    for folder, subfolders, names in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(
            s
            for s in subfolders
            if not _is_temporary(s) and (here / s).resolve() not in skip_folders
        )
        for name in sorted(names):
            path = here / name
            if _is_temporary(name) or path.is_symlink() or not path.is_file():
                continue
            if path.resolve() in skip_files:
                continue
            yield path, path.relative_to(root).as_posix()


def installation_files() -> list[tuple[Path, str]]:
    """(file, archive name) of every upload and every file the app wrote under instance/."""
    uploads = Path(current_app.config["UPLOAD_FOLDER"])
    instance = Path(current_app.instance_path)
    skip = _excluded_paths()
    found = [(p, UPLOADS_PREFIX + rel) for p, rel in _walk(uploads, [], skip)]
    skip_folders = _excluded_folders()
    found += [(p, INSTANCE_PREFIX + rel) for p, rel in _walk(instance, skip_folders, skip)]
    return found


def _target_of(member: str) -> Path:
    """Where an archived file goes back, refusing any name that would climb out."""
    if member.startswith(UPLOADS_PREFIX):
        root, rel = Path(current_app.config["UPLOAD_FOLDER"]), member[len(UPLOADS_PREFIX) :]
    elif member.startswith(INSTANCE_PREFIX):
        root, rel = Path(current_app.instance_path), member[len(INSTANCE_PREFIX) :]
    else:
        raise BackupError(f"The archive holds an unexpected file: {member}")
    parts = Path(rel).parts
    if not parts or any(p in ("", ".", "..") for p in parts) or Path(rel).is_absolute():
        raise BackupError(f"The archive holds a file with an unsafe name: {member}")
    target = (root / rel).resolve()
    if root.resolve() not in target.parents:
        raise BackupError(f"The archive holds a file with an unsafe name: {member}")
    return target


# -- PostgreSQL tools ---------------------------------------------------------------


def _libpq_target() -> tuple[list[str], dict[str, str]]:
    """Connection arguments for pg_dump / psql, with the password in the environment."""
    url = _engine().url
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return ["--dbname", plain.render_as_string(hide_password=False)], env


def _major(text: str) -> int:
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", text) or re.search(r"(\d+)", text)
    if not match:
        raise BackupError(f"Cannot read a PostgreSQL version from {text!r}.")
    return int(match.group(1))


def check_postgres_tool(tool: str) -> str:
    """The path of ``tool`` (pg_dump, psql), refusing one older than the server.

    pg_dump refuses to dump a newer server, and an older psql may not read a
    newer dump: the client's major version must be at least the server's
    (on Debian: ``apt-get install postgresql-client-<server major>``).
    """
    path = shutil.which(tool)
    with _engine().connect() as conn:
        server = int(conn.exec_driver_sql("SHOW server_version_num").scalar()) // 10000
    if path is None:
        raise BackupError(
            f"{tool} is not installed. Install the PostgreSQL {server} client "
            f"(Debian: apt-get install postgresql-client-{server})."
        )
    output = subprocess.run(  # noqa: S603 - a fixed tool found on PATH, no user input
        [path, "--version"], capture_output=True, text=True, check=True
    )
    client = _major(output.stdout)
    if client < server:
        raise BackupError(
            f"{tool} is version {client} but the server is PostgreSQL {server}: install "
            f"the PostgreSQL {server} client (Debian: apt-get install "
            f"postgresql-client-{server}) and put it first on PATH."
        )
    return path


# -- Writing an archive -------------------------------------------------------------


class _HashingReader:
    """A file object that hashes what tarfile reads from it."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha256.update(data)
        self.size += len(data)
        return data


def _add_file(archive: tarfile.TarFile, manifest: Manifest, path: Path, name: str) -> None:
    with open(path, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = FILE_MODE
        info.mtime = int(os.fstat(raw.fileno()).st_mtime)
        reader = _HashingReader(raw)
        archive.addfile(info, reader)
    manifest.members[name] = {"sha256": reader.sha256.hexdigest(), "size": reader.size}


def _dump_database(work: Path) -> tuple[Path, str]:
    """The database dumped into ``work``: (file, archive name)."""
    dialect = _dialect()
    if dialect == "sqlite":
        source = _sqlite_file()
        if source is None or not source.exists():
            raise BackupError("The SQLite database file is missing.")
        target = work / "coalition.sqlite"
        timeout = current_app.config["SQLITE_BUSY_TIMEOUT_MS"] / 1000
        src = sqlite3.connect(source, timeout=timeout)
        dst = sqlite3.connect(target)
        try:
            with dst:
                src.backup(dst)  # a consistent copy while the app keeps running
        finally:
            dst.close()
            src.close()
        return target, SQLITE_MEMBER
    if dialect == "postgresql":
        tool = check_postgres_tool("pg_dump")
        target = work / "coalition.sql"
        args, env = _libpq_target()
        result = subprocess.run(  # noqa: S603 - the configured database, no user input
            [tool, "--format=plain", "--no-owner", "--no-privileges", "--file", str(target), *args],
            capture_output=True,
            text=True,
            env=env,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
        return target, POSTGRES_MEMBER
    raise BackupError(f"Backups of a {dialect} database are not supported.")


def create_backup(destination: str | os.PathLike) -> Manifest:
    """Write the archive to ``destination`` (0600, atomically). Returns its manifest."""
    destination = Path(destination).absolute()
    if destination.is_dir():
        raise BackupError(f"{destination} is a folder; give the archive's file name.")
    folder = private_folder(destination.parent)
    revisions = database_revisions()
    if not revisions:
        raise BackupError("The database has no schema revision: run `flask db upgrade` first.")
    manifest = Manifest(
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        dialect=_dialect(),
        revisions=revisions,
    )
    descriptor, temporary = tempfile.mkstemp(prefix=".backup-", suffix=".part", dir=folder)
    try:
        os.fchmod(descriptor, FILE_MODE)
        with tempfile.TemporaryDirectory(prefix=".backup-", dir=folder) as work:
            dump, dump_name = _dump_database(Path(work))
            with os.fdopen(descriptor, "wb") as out:
                descriptor = None
                with tarfile.open(fileobj=out, mode="w:gz", compresslevel=6) as archive:
                    _add_file(archive, manifest, dump, dump_name)
                    for path, name in installation_files():
                        _add_file(archive, manifest, path, name)
                    data = manifest.as_json()
                    info = tarfile.TarInfo(MANIFEST)
                    info.size = len(data)
                    info.mode = FILE_MODE
                    info.mtime = int(time.time())
                    archive.addfile(info, _BytesReader(data))
                out.flush()
                os.fsync(out.fileno())
        os.replace(temporary, destination)
    except BaseException:
        if descriptor is not None:
            os.close(descriptor)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return manifest


class _BytesReader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n is None or n < 0 else self.at + n
        chunk = self.data[self.at : end]
        self.at += len(chunk)
        return chunk


# -- Restoring ----------------------------------------------------------------------


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _extract_and_verify(source: Path, work: Path) -> tuple[dict, dict[str, Path]]:
    """Extract every member into ``work`` and check it against the manifest."""
    try:
        archive = tarfile.open(source, mode="r:gz")  # noqa: SIM115 - closed by the with below
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{source} is not a readable backup archive ({exc}).") from exc
    extracted: dict[str, Path] = {}
    manifest = None
    try:
        with archive:
            for index, member in enumerate(archive):
                if not member.isfile():
                    raise BackupError(f"The archive holds a non-file: {member.name}")
                if member.name == MANIFEST:
                    manifest = json.loads(archive.extractfile(member).read())
                    continue
                if member.name in extracted:
                    raise BackupError(f"The archive holds {member.name} twice.")
                target = work / f"{index:08d}"
                with archive.extractfile(member) as data, open(target, "wb") as out:
                    shutil.copyfileobj(data, out, CHUNK)
                extracted[member.name] = target
    except (OSError, EOFError, tarfile.TarError, zlib_error()) as exc:
        raise BackupError(f"The archive is damaged ({exc}); nothing was restored.") from exc
    except json.JSONDecodeError as exc:
        raise BackupError("The archive's manifest is damaged; nothing was restored.") from exc
    if manifest is None or manifest.get("format") != FORMAT:
        raise BackupError("The archive has no manifest of this application; nothing was restored.")
    listed = manifest.get("members") or {}
    if set(listed) != set(extracted):
        missing = sorted(set(listed) - set(extracted))
        extra = sorted(set(extracted) - set(listed))
        raise BackupError(
            "The archive does not match its manifest "
            f"(missing: {missing or 'none'}, not listed: {extra or 'none'}); nothing was restored."
        )
    bad = [name for name, path in extracted.items() if _sha256_of(path) != listed[name]["sha256"]]
    if bad:
        raise BackupError(
            "Checksum mismatch in " + ", ".join(sorted(bad)) + ": the archive is damaged; "
            "nothing was restored."
        )
    return manifest, extracted


def zlib_error():
    import zlib

    return zlib.error


def installation_problems() -> list[str]:
    """Why this installation is not empty (a restore would overwrite something)."""
    problems = []
    with _engine().connect() as conn:
        inspector = sa.inspect(conn)
        shadows: tuple[str, ...] = ()
        if conn.dialect.name == "sqlite":
            # A full-text (virtual) table keeps its index in shadow tables named after
            # it, with rows even when it is empty.
            virtual = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND sql LIKE 'CREATE VIRTUAL TABLE%'"
            ).scalars()
            shadows = tuple(f"{name}_" for name in virtual)
        for table in inspector.get_table_names():
            if table == "alembic_version" or table.startswith(("sqlite_", *shadows)):
                continue
            quoted = conn.dialect.identifier_preparer.quote(table)
            # A reflected table name, quoted: no user input.
            query = f"SELECT 1 FROM {quoted} LIMIT 1"  # noqa: S608
            if conn.exec_driver_sql(query).first() is not None:
                problems.append(f"the table {table} has rows")
    for path, _name in installation_files():
        problems.append(f"{path} exists")
        break
    return problems


def _write_private_copy(source: Path, target: Path) -> None:
    private_folder(target.parent)
    temporary = target.parent / f".backup-{target.name}.part"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(temporary, flags, FILE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as out, open(source, "rb") as data:
            os.fchmod(out.fileno(), FILE_MODE)
            shutil.copyfileobj(data, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _restore_sqlite(dump: Path) -> None:
    target = _sqlite_file()
    if target is None:
        raise BackupError("The database is an in-memory SQLite database; nothing to restore into.")
    _engine().dispose()
    private_folder(target.parent)
    src = sqlite3.connect(dump)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # replaces every page of the target in one step
    finally:
        dst.close()
        src.close()
    _engine().dispose()


def _restore_postgres(dump: Path, work: Path) -> None:
    """The dump replayed by psql in one transaction: all of it, or none of it.

    The (checked empty) ``public`` schema is dropped and made again first, so
    that whatever an earlier ``flask db upgrade`` made there (tables,
    functions, the pg_trgm extension) does not collide with the dump. The
    database's owner may do this (the owner of ``public`` from PostgreSQL 15).
    """
    tool = check_postgres_tool("psql")
    prelude = work / "prelude.sql"
    prelude.write_text("DROP SCHEMA public CASCADE;\nCREATE SCHEMA public;\n", encoding="utf-8")
    _engine().dispose()
    args, env = _libpq_target()
    result = subprocess.run(  # noqa: S603 - the configured database, no user input
        [
            tool,
            "--no-psqlrc",
            "--quiet",
            "--single-transaction",
            "--set",
            "ON_ERROR_STOP=1",
            "--file",
            str(prelude),
            "--file",
            str(dump),
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode != 0:
        raise BackupError(
            f"psql could not restore the dump (nothing was changed): {result.stderr.strip()}"
        )


@dataclass
class RestoreResult:
    manifest: dict
    files: int
    needs_upgrade: bool


def restore_backup(source: str | os.PathLike) -> RestoreResult:
    """Restore an archive into this (empty) installation; ``BackupError`` otherwise,
    with nothing changed."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source} does not exist.")
    with tempfile.TemporaryDirectory(prefix="coalition-restore-") as work_name:
        work = Path(work_name)
        os.chmod(work, 0o700)
        manifest, extracted = _extract_and_verify(source, work)
        revisions = manifest.get("schema_revisions") or []
        unknown = [r for r in revisions if not known_revision(r)]
        if not revisions or unknown:
            raise BackupError(
                f"The archive's schema revision {', '.join(unknown or ['(none)'])} is unknown to "
                "this release: it was made by a newer release. Install that release (or a later "
                "one) to restore it. Nothing was restored."
            )
        dialect = manifest.get("dialect")
        if dialect != _dialect():
            raise BackupError(
                f"The archive holds a {dialect} database but this installation uses "
                f"{_dialect()}. Nothing was restored."
            )
        dump_name = SQLITE_MEMBER if dialect == "sqlite" else POSTGRES_MEMBER
        if dump_name not in extracted:
            raise BackupError("The archive holds no database. Nothing was restored.")
        targets = {name: _target_of(name) for name in extracted if name != dump_name}
        problems = installation_problems()
        problems += [f"{t} exists" for t in targets.values() if t.exists()][:1]
        if problems:
            raise BackupError(
                "Restore refused: this installation is not empty ("
                + "; ".join(problems[:5])
                + "). Restore into a new, empty database and empty folders. Nothing was changed."
            )
        if dialect == "sqlite":
            _restore_sqlite(extracted[dump_name])
        else:
            _restore_postgres(extracted[dump_name], work)
        for name, target in sorted(targets.items()):
            _write_private_copy(extracted[name], target)
    return RestoreResult(
        manifest=manifest,
        files=len(targets),
        needs_upgrade=sorted(revisions) != code_heads(),
    )


# -- Nightly backups (the scheduler) ---------------------------------------------------


def nightly_backup(now: datetime | None = None) -> Path | None:
    """Tonight's archive in BACKUP_FOLDER, once per night; then keep the last BACKUP_KEEP.

    Returns the archive written, or None when tonight's already existed.
    """
    now = now or datetime.now(UTC)
    folder = private_folder(current_app.config["BACKUP_FOLDER"])
    target = folder / f"coalition-{now:%Y-%m-%d}.tar.gz"
    written = None
    if not target.exists():
        create_backup(target)
        written = target
    prune_backups(folder, current_app.config["BACKUP_KEEP"])
    return written


def prune_backups(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` nightly archives; other files are left alone."""
    nightly = sorted(p for p in folder.iterdir() if NIGHTLY_PATTERN.match(p.name))
    removed = nightly[: max(0, len(nightly) - max(keep, 1))]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed
