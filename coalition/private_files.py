"""Files and folders only this system user may read: 0600 and 0700, whatever the umask.

The SQLite database, the uploads and every file the application writes hold
personal data. ``os.open`` and ``mkdir`` take a mode that the process's umask
can only narrow, so each file and folder made here is also set to its mode
explicitly (a umask of 0 would otherwise leave the mode as asked, and one of
0o022 would leave a folder at 0755 where its parents are made by ``mkdir -p``).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: str | os.PathLike) -> Path:
    """The folder, created with its missing parents, each one 0700; an existing one is left."""
    folder = Path(path)
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.is_dir():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            candidate.mkdir(mode=FOLDER_MODE)
            os.chmod(candidate, FOLDER_MODE)
    return folder


def create_private_file(path: str | os.PathLike) -> bool:
    """Create an empty file (and its folder) at 0600 unless it exists; True when created."""
    path = Path(path)
    private_folder(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags, FILE_MODE)
    except FileExistsError:
        return False
    try:
        os.fchmod(descriptor, FILE_MODE)
    finally:
        os.close(descriptor)
    return True


def write_private_file(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path``, which ends 0600 even when it existed with a wider mode."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags, FILE_MODE)
    with os.fdopen(descriptor, "wb") as out:
        os.fchmod(descriptor, FILE_MODE)
        out.write(data)


def sqlite_path(database: str | None) -> Path | None:
    """The file of a SQLite database name from its URL; None for an in-memory one."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)
