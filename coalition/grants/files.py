"""The attachment store of grant applications.

Uploads are judged by their content, never by their name or the type the
browser claims: only PDF, DOCX, ODT, XLSX, ODS and CSV are kept, and a PDF
that carries JavaScript, launch actions or embedded files is refused. Files
are written outside the web root, in ``UPLOAD_FOLDER``, under random names
that owe nothing to what the user called them; the original name is kept
(cleaned) for display and for the download's ``Content-Disposition`` only.

The store writes files, never database rows: the caller creates the
``Attachment`` row in its own transaction, and deletes the stored file when
that transaction fails. Files left behind by a failed transaction are found
by ``orphans()`` and removed by ``remove_orphans()``.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import os
import re
import secrets
import time
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote
from xml.etree import ElementTree

import sqlalchemy as sa
from flask import Response, abort, current_app, send_file
from flask_babel import format_decimal
from flask_babel import gettext as _

from coalition.extensions import db
from coalition.private_files import private_folder
from coalition.security import DOWNLOAD_CSP

if TYPE_CHECKING:
    import pikepdf

    from coalition.grants.models import Attachment

log = logging.getLogger("coalition.grants.files")

# -- Types ----------------------------------------------------------------------


@dataclass(frozen=True)
class DetectedType:
    """What a file is, by its content: its kind, official MIME type and extension."""

    kind: str
    content_type: str
    extension: str


PDF = DetectedType("pdf", "application/pdf", "pdf")
DOCX = DetectedType(
    "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"
)
XLSX = DetectedType(
    "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"
)
ODT = DetectedType("odt", "application/vnd.oasis.opendocument.text", "odt")
ODS = DetectedType("ods", "application/vnd.oasis.opendocument.spreadsheet", "ods")
CSV = DetectedType("csv", "text/csv", "csv")
ALLOWED_TYPES: tuple[DetectedType, ...] = (PDF, DOCX, XLSX, ODT, ODS, CSV)
_BY_CONTENT_TYPE = {t.content_type: t for t in ALLOWED_TYPES}

# The main part an OOXML package declares in [Content_Types].xml.
_OOXML_MAIN_PARTS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
}
_CONTENT_TYPES_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_ODF_MIMETYPES = {ODT.content_type: ODT, ODS.content_type: ODS}
# Parts of a package this small are read whole; anything bigger is not what it claims.
_MAX_MANIFEST_BYTES = 1024 * 1024
# Where an OpenDocument file keeps macros (Basic libraries, scripts).
_ODF_MACRO_FOLDERS = ("Basic/", "Scripts/")

_STORED_NAME = re.compile(r"[0-9a-f]{32}")
# Unicode's control characters (category Cc) but tab, LF and CR.
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidirectional overrides and isolates: they can make "exe.pdf" look like "fdp.exe".
_BIDI_CONTROLS = dict.fromkeys(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
)
MAX_NAME_LENGTH = 150
# A file younger than this may belong to an upload whose row is not committed yet.
ORPHAN_GRACE = timedelta(hours=1)


class UploadRefused(Exception):
    """An upload the store will not keep; ``message`` tells the person why, in their language."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class StoredFile:
    """A file written to the upload folder, with what the caller puts in its Attachment row."""

    stored_name: str
    original_name: str
    content_type: str
    size: int
    sha256: str
    kind: str


# -- Detection ------------------------------------------------------------------


def detect_type(data: bytes) -> DetectedType | None:
    """Recognise an allowed type by the bytes alone; ``None`` for anything else.

    A PDF starts with ``%PDF-`` and opens with pikepdf (a password-protected
    one counts as a PDF here, so that ``check_pdf`` can say why it is
    refused). A DOCX or XLSX is a zip whose ``[Content_Types].xml`` declares
    the Word or Excel main part, which the archive holds, and no VBA project
    (a macro-enabled DOCM/XLSM is not allowed, whatever its name). An ODT or
    ODS is a zip whose first entry is ``mimetype``, stored, holding the
    OpenDocument type, with its manifest and content. A CSV is text in
    UTF-8 (with or without BOM) or Windows-1252, without NUL or control
    characters other than tab, CR and LF, that does not start like markup
    (``<``), with at least one line split by a comma, semicolon or tab.
    """
    if data.startswith(b"%PDF-"):
        return PDF if _opens_as_pdf(data) else None
    if data.startswith(b"PK\x03\x04"):
        return _detect_package(data)
    return CSV if _is_csv(data) else None


def _opens_as_pdf(data: bytes) -> bool:
    import pikepdf  # here, not at start-up: some 6 MB a web worker needs only for uploads

    try:
        with pikepdf.open(io.BytesIO(data)):
            return True
    except pikepdf.PasswordError:
        return True
    except Exception:
        # pikepdf raises its own errors and, on hostile input, others: none is a PDF we keep.
        return False


def _detect_package(data: bytes) -> DetectedType | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if not entries:
                return None
            names = {entry.filename for entry in entries}
            first = entries[0]
            if first.filename == "mimetype":
                if first.compress_type != zipfile.ZIP_STORED or first.file_size > 200:
                    return None
                detected = _ODF_MIMETYPES.get(archive.read(first).decode("ascii", "replace"))
                if detected and {"META-INF/manifest.xml", "content.xml"} <= names:
                    return detected
                return None
            if "[Content_Types].xml" in names:
                return _detect_ooxml(archive, names)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return None
    return None


def _detect_ooxml(archive: zipfile.ZipFile, names: set[str]) -> DetectedType | None:
    info = archive.getinfo("[Content_Types].xml")
    if info.file_size > _MAX_MANIFEST_BYTES:
        return None
    raw = archive.read(info)
    # No DTD, so no entity expansion (billion laughs) and no external entities.
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        return None
    try:
        root = ElementTree.fromstring(raw)  # noqa: S314 (no DTD: checked above)
    except ElementTree.ParseError:
        return None
    declared = [
        (element.get("PartName", ""), element.get("ContentType", ""))
        for element in root.iter(f"{_CONTENT_TYPES_NS}Override")
    ]
    if any("vbaProject" in content_type for _part, content_type in declared):
        return None
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        return None
    mains = {
        _OOXML_MAIN_PARTS[content_type]
        for part, content_type in declared
        if content_type in _OOXML_MAIN_PARTS and part.lstrip("/") in names
    }
    return mains.pop() if len(mains) == 1 else None


def _decode_text(data: bytes) -> str | None:
    encodings = ("utf-8-sig",) if data.startswith(b"\xef\xbb\xbf") else ("utf-8", "cp1252")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _is_csv(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    text = _decode_text(data)
    if text is None:
        return False
    if _CONTROL_CHARACTERS.search(text):
        return False
    if text.lstrip().startswith("<"):
        # HTML, SVG, XML: markup a browser could be talked into rendering.
        return False
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        return any(len(row) > 1 for row in reader)
    except csv.Error:
        return False


def _delimiter(text: str) -> str:
    """The delimiter of the first non-blank line: the most frequent of comma, semicolon, tab."""
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    return max((",", ";", "\t"), key=first_line.count)


# -- PDF checks -----------------------------------------------------------------

_JAVASCRIPT_KEYS = frozenset({"/JS", "/JavaScript"})
_EMBEDDED_KEYS = frozenset({"/EmbeddedFiles", "/EF"})


def check_pdf(data: bytes) -> None:
    """Refuse (``UploadRefused``) a PDF that could act on the reader's computer.

    Every object of the file is examined (``pdf.objects``: those in
    compressed object streams too, with names already decoded, so
    ``/J#61vaScript`` is ``/JavaScript``), with the dictionaries and arrays
    held inside each, and the trailer. Refused: JavaScript anywhere (a
    ``/JS`` or ``/JavaScript`` key, an action of subtype ``/JavaScript``:
    which covers ``/OpenAction``, ``/AA`` and the ``/Names /JavaScript``
    tree), launch actions (``/Launch``), embedded files (``/EmbeddedFiles``,
    ``/EF``, ``/FileAttachment`` annotations, ``/EmbeddedFile`` streams),
    and any PDF that is encrypted or that pikepdf cannot read.
    """
    import pikepdf

    try:
        document = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        raise UploadRefused(_encrypted_message())
    except Exception:
        raise UploadRefused(_unreadable_message())
    with document:
        if document.is_encrypted:
            raise UploadRefused(_encrypted_message())
        try:
            danger = _first_danger(document)
        except Exception:
            # A damaged object that pikepdf cannot resolve: nothing we can vouch for.
            raise UploadRefused(_unreadable_message())
    if danger == "javascript":
        raise UploadRefused(
            _(
                "This PDF contains JavaScript, which is not allowed. Save it again without"
                " scripts (for example with 'Print to PDF') and upload it again."
            )
        )
    if danger == "launch":
        raise UploadRefused(
            _(
                "This PDF contains an action that starts a program, which is not allowed."
                " Save it again (for example with 'Print to PDF') and upload it again."
            )
        )
    if danger == "embedded":
        raise UploadRefused(
            _(
                "This PDF has other files attached inside it, which is not allowed. Remove"
                " the attached files, or upload them separately, and upload it again."
            )
        )


def _encrypted_message() -> str:
    return _(
        "This PDF is encrypted or protected by a password. Save it again without"
        " protection and upload it again."
    )


def _unreadable_message() -> str:
    return _("This PDF cannot be read. Save it again (for example with 'Print to PDF').")


def _first_danger(document: pikepdf.Pdf) -> str | None:
    """'javascript', 'launch' or 'embedded' for the first danger found, else None."""
    import pikepdf

    # Indirect objects are each visited once from pdf.objects; inside one, only the
    # direct objects are walked (references point to objects visited on their own).
    stack: list[pikepdf.Object] = [document.trailer, *document.objects]
    while stack:
        item = stack.pop()
        if isinstance(item, pikepdf.Stream):
            item = item.stream_dict
        if isinstance(item, pikepdf.Dictionary):
            danger = _danger_in(item)
            if danger:
                return danger
            children = item.values()
        elif isinstance(item, pikepdf.Array):
            children = list(item)
        else:
            continue
        stack.extend(
            child
            for child in children
            if isinstance(child, pikepdf.Dictionary | pikepdf.Array) and not child.is_indirect
        )
    return None


def _danger_in(dictionary: pikepdf.Dictionary) -> str | None:
    keys = set(dictionary.keys())
    subtypes = {str(dictionary.get(key)) for key in ("/S", "/Subtype", "/Type") if key in keys}
    if keys & _JAVASCRIPT_KEYS or "/JavaScript" in subtypes:
        return "javascript"
    if "/Launch" in keys or "/Launch" in subtypes:
        return "launch"
    if keys & _EMBEDDED_KEYS or subtypes & {"/FileAttachment", "/EmbeddedFile"}:
        return "embedded"
    return None


def check_opendocument(data: bytes) -> None:
    """Refuse an OpenDocument file that carries macros (a ``Basic/`` or ``Scripts/`` part)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
    if any(name.startswith(_ODF_MACRO_FOLDERS) for name in names):
        raise UploadRefused(
            _(
                "This document contains macros, which are not allowed. Save it again"
                " without macros and upload it again."
            )
        )


# -- Names ----------------------------------------------------------------------


def clean_filename(name: str, extension: str) -> str:
    """The name to show and to offer on download; never used on disk.

    Guarantees: no directory part (``/`` and ``\\`` both split), no control
    or bidirectional-override characters, Unicode kept in NFC, at most 150
    characters, the extension the content was detected as (replacing the
    one the name had), and never empty (``file.<extension>``).
    """
    extension = extension.lower().lstrip(".")
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(
        ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs", "Zl", "Zp")
    ).translate(_BIDI_CONTROLS)
    text = " ".join(text.split())
    stem, dot, old_extension = text.rpartition(".")
    if not dot or not old_extension or len(old_extension) > 10 or " " in old_extension:
        stem = text
    stem = stem.strip(" .")
    room = MAX_NAME_LENGTH - len(extension) - 1
    stem = stem[:room].rstrip(" .") or "file"
    return f"{stem}.{extension}"


# -- Storage --------------------------------------------------------------------


def upload_folder() -> Path:
    """The folder that holds the files (outside the web root), created private (0700)."""
    return private_folder(current_app.config["UPLOAD_FOLDER"])


def megabytes(size: int) -> str:
    if size >= 1024 * 1024:
        return _("%(number)s MB", number=format_decimal(round(size / (1024 * 1024), 1)))
    if size >= 1024:
        return _("%(number)s KB", number=format_decimal(round(size / 1024, 1)))
    return _("%(number)s bytes", number=format_decimal(size))


def store(data: bytes, *, original_name: str, current_total: int) -> StoredFile:
    """Check an upload and keep it; raise ``UploadRefused`` (and keep nothing) otherwise.

    ``current_total`` is the size of the application's files already kept.
    Refused: an empty file, one over ``ATTACHMENT_MAX_BYTES``, one that
    would take the application over ``APPLICATION_MAX_BYTES``, any type but
    the allowed ones (by content), a PDF with active content, an
    OpenDocument file with macros. A file kept is written whole or not at
    all (a temporary file, fsync, atomic rename), readable by this user
    only (0600), under a random 32-hex name with no extension. Nothing is
    written to the database: the caller adds the Attachment row.
    """
    config = current_app.config
    size = len(data)
    if size == 0:
        raise UploadRefused(_("The file is empty."))
    if size > config["ATTACHMENT_MAX_BYTES"]:
        raise UploadRefused(
            _(
                "The file is larger than %(limit)s.",
                limit=megabytes(config["ATTACHMENT_MAX_BYTES"]),
            )
        )
    if current_total + size > config["APPLICATION_MAX_BYTES"]:
        raise UploadRefused(
            _(
                "This application's files would exceed %(limit)s in total.",
                limit=megabytes(config["APPLICATION_MAX_BYTES"]),
            )
        )
    detected = detect_type(data)
    if detected is None:
        raise UploadRefused(
            _("This file is not one of the allowed types: PDF, DOCX, ODT, XLSX, ODS or CSV.")
        )
    if detected is PDF:
        check_pdf(data)
    elif detected in (ODT, ODS):
        check_opendocument(data)
    stored_name = secrets.token_hex(16)
    try:
        _write_atomically(upload_folder(), stored_name, data)
    except OSError as exc:
        # Disk full, folder unwritable or missing: the write left nothing behind
        # (the temporary file is removed), and the person is told, not shown a 500.
        log.error(
            "upload could not be written",
            extra={"fields": {"error": f"{type(exc).__name__}: {exc.strerror or exc}"}},
        )
        raise UploadRefused(
            _(
                "The file could not be saved on the server just now, and nothing was kept. "
                "Try again later; if it happens again, tell the convenor staff."
            )
        ) from exc
    return StoredFile(
        stored_name=stored_name,
        original_name=clean_filename(original_name, detected.extension),
        content_type=detected.content_type,
        size=size,
        sha256=hashlib.sha256(data).hexdigest(),
        kind=detected.kind,
    )


def _write_atomically(folder: Path, stored_name: str, data: bytes) -> None:
    temporary = folder / f".{stored_name}.part"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(temporary, flags, 0o600)
    try:
        try:
            os.fchmod(descriptor, 0o600)
            view = memoryview(data)
            while view:
                written = os.write(descriptor, view)
                view = view[written:]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, folder / stored_name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    # Make the rename itself durable.
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def path_of(stored_name: str) -> Path:
    """The path of a stored file; ``ValueError`` for a name the store would never make.

    Only 32 lowercase hex characters are accepted, so no name can climb out
    of the upload folder; the resolved path is checked to be inside it too.
    """
    if not isinstance(stored_name, str) or not _STORED_NAME.fullmatch(stored_name):
        raise ValueError(f"not a stored file name: {stored_name!r}")
    folder = Path(current_app.config["UPLOAD_FOLDER"]).resolve()
    path = (folder / stored_name).resolve()
    if path.parent != folder:
        raise ValueError(f"stored file outside the upload folder: {stored_name!r}")
    return path


def delete(stored_name: str) -> None:
    """Remove a stored file; a file already gone is not an error. Bad names raise ValueError."""
    path_of(stored_name).unlink(missing_ok=True)


def download_response(attachment: Attachment, *, blind: bool = False) -> Response:
    """Send an attachment as a download, never for the browser to display.

    Guarantees: ``Content-Disposition: attachment`` with the cleaned
    original name as an ASCII fallback (``filename=``) and in full UTF-8
    (``filename*=``, RFC 6266/5987); the detected content type as stored;
    ``X-Content-Type-Options: nosniff``; a CSP of ``default-src 'none'``
    with ``sandbox``; ``Cache-Control: no-store``. A file missing on disk
    answers 404. The caller has checked that the person may download it.
    ``blind`` names the file by its kind alone (``budget-12.pdf``): a blind
    reviewer learns nothing of the applicant from the original name.
    """
    path = path_of(attachment.stored_name)
    if not path.is_file():
        current_app.logger.error("attachment %s is missing on disk", attachment.id)
        abort(404)
    detected = _BY_CONTENT_TYPE.get(attachment.content_type)
    content_type = detected.content_type if detected else "application/octet-stream"
    extension = detected.extension if detected else "bin"
    if blind:
        name = f"{attachment.kind.value}-{attachment.id}.{extension}"
    else:
        name = clean_filename(attachment.original_name, extension)
    response = send_file(path, mimetype=content_type, as_attachment=True, conditional=True)
    headers = response.headers
    headers.set("Content-Disposition", "attachment", **_disposition_names(name))
    # send_file adds "; charset=utf-8" to text types; a CSV may be Windows-1252.
    headers["Content-Type"] = content_type
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Content-Security-Policy"] = DOWNLOAD_CSP
    headers["Cache-Control"] = "no-store"
    return response


def _disposition_names(name: str) -> dict[str, str]:
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = "".join(ch for ch in fallback if ch.isprintable() and ch not in '"\\')
    stem, _dot, extension = fallback.rpartition(".")
    if not stem.strip(" ._-"):
        fallback = f"file.{extension or 'bin'}"
    return {
        "filename": fallback,
        "filename*": "UTF-8''" + quote(name, safe="!#$&+-.^_`|~"),
    }


# -- Clean-up -------------------------------------------------------------------


def orphans(*, older_than: timedelta | None = None) -> list[str]:
    """Stored names in the upload folder that no attachment row (of an application or
    of a grantee report) refers to, sorted.

    With ``older_than``, only files last written before that long ago (a
    younger file may belong to an upload whose row is not committed yet).
    Temporary files of writes in progress are never listed.
    """
    from coalition.grants.award_models import ReportAttachment
    from coalition.grants.models import Attachment

    folder = Path(current_app.config["UPLOAD_FOLDER"])
    if not folder.is_dir():
        return []
    cutoff = time.time() - older_than.total_seconds() if older_than is not None else None
    on_disk = []
    for entry in os.scandir(folder):
        if not _STORED_NAME.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        if cutoff is not None and entry.stat(follow_symlinks=False).st_mtime > cutoff:
            continue
        on_disk.append(entry.name)
    known: set[str] = set()
    for start in range(0, len(on_disk), 500):
        chunk = on_disk[start : start + 500]
        # Applications' and grantee reports' files share the folder.
        for model in (Attachment, ReportAttachment):
            known.update(
                db.session.scalars(sa.select(model.stored_name).where(model.stored_name.in_(chunk)))
            )
    return sorted(name for name in on_disk if name not in known)


def remove_orphans(*, older_than: timedelta = ORPHAN_GRACE) -> list[str]:
    """Delete orphaned files older than ``older_than`` (an hour by default); return their names."""
    removed = orphans(older_than=older_than)
    for stored_name in removed:
        delete(stored_name)
    return removed
