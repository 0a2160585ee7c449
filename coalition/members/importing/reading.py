"""Reading a member list: the bytes of a CSV or XLSX file become a ``Table``.

The format is recognised by content, never by the file's name. A CSV's text is
decoded (UTF-8 with or without BOM, UTF-16, Windows-1252) and its delimiter
sniffed; blank lines are skipped and each row keeps its line numbers in the
file. A file the import cannot use raises ``ImportFileError``.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _

from coalition.members.importing.columns import match_columns

# The largest file an import accepts (web and command line alike).
MAX_IMPORT_BYTES = 10 * 1024 * 1024
# What an XLSX may unpack to, and how many sheet rows are read: a small
# compressed file must not be able to fill the memory.
MAX_XLSX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_SHEET_ROWS = 200_000


class ImportFileError(Exception):
    """A file the import cannot use. ``code`` and ``params`` keep it JSON-able;
    ``message`` says it in the reader's language."""

    def __init__(self, code: str, **params: Any):
        super().__init__(code)
        self.code = code
        self.params = params

    @property
    def message(self) -> str:
        return file_error_message(self.code, self.params)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "params": self.params}


class SheetChoiceNeeded(ImportFileError):
    """An XLSX with several sheets: the person chooses which one to import."""

    def __init__(self, sheets: list[str]):
        super().__init__("choose_sheet", sheets=sheets)
        self.sheets = sheets


def file_error_message(code: str, params: dict[str, Any]) -> str:
    mib = MAX_IMPORT_BYTES // (1024 * 1024)
    messages = {
        "empty": lambda: _("The file is empty."),
        "too_big": lambda: _(
            "The file is larger than %(mib)d MiB. Split it into smaller files and import "
            "them one after the other.",
            mib=mib,
        ),
        "not_a_table": lambda: _(
            "This file is not a CSV or an XLSX spreadsheet. Save your list from the "
            "spreadsheet program as CSV or as an Excel workbook (.xlsx), then try again."
        ),
        "old_excel": lambda: _(
            "This is an old Excel file (.xls) or a workbook protected by a password. Save it "
            "as an Excel workbook (.xlsx) without a password, or as CSV, then try again."
        ),
        "unreadable_xlsx": lambda: _(
            "This XLSX workbook could not be read: it may be damaged. Open it in your "
            "spreadsheet program, save it again, and retry."
        ),
        "too_many_rows": lambda: _(
            "The sheet has more than %(n)d rows. Split it into smaller files.",
            n=MAX_SHEET_ROWS,
        ),
        "choose_sheet": lambda: _(
            "This workbook has several sheets (%(sheets)s). Choose the sheet to import.",
            sheets=", ".join(params.get("sheets", [])),
        ),
        "no_such_sheet": lambda: _(
            "The workbook has no sheet called %(sheet)s. Its sheets are: %(sheets)s.",
            sheet=params.get("sheet", ""),
            sheets=", ".join(params.get("sheets", [])),
        ),
        "no_name_column": lambda: _(
            "No column holds the members' names. Name the column “name” (or “nom”). The "
            "columns found are: %(headers)s.",
            headers=", ".join(params.get("headers", [])) or "—",
        ),
        "no_rows": lambda: _("The file has column names but no rows of members."),
    }
    render = messages.get(code)
    return render() if render else _("The file could not be read.")


@dataclass
class Table:
    """A member list as read from a file: header, and rows with their line numbers."""

    filename: str
    format: str  # "csv" or "xlsx"
    headers: list[str]
    header_line: int
    columns: dict[str, int]
    ignored: list[str]
    rows: list[tuple[int, int, list[str]]]  # (first line, last line, cells)
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    # What was decided from the columns' values (see ``columns.match_columns``).
    column_notes: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": {",": "comma", ";": "semicolon", "\t": "tab"}.get(self.delimiter or ""),
            "sheet": self.sheet,
            "header_line": self.header_line,
            "columns": {name: self.headers[index] for name, index in self.columns.items()},
            "ignored": self.ignored,
            "column_notes": self.column_notes,
        }


_BINARY_SIGNATURES = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"%PDF",
    b"\x1f\x8b",
    b"BM",
    b"RIFF",
    b"\x7fELF",
    b"MZ",
    b"{\\rtf",
    b"7z\xbc\xaf",
    b"Rar!",
)


def read_table(data: bytes, filename: str = "", sheet: str | None = None) -> Table:
    """Read a CSV or XLSX member list, recognised by its content. Raises ImportFileError."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportFileError("too_big")
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise ImportFileError("empty")
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data, filename, sheet)
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError("old_excel")
    if data.startswith(_BINARY_SIGNATURES):
        raise ImportFileError("not_a_table")
    text, encoding = _decode(data)
    return _read_csv(text, encoding, filename)


def _decode(data: bytes) -> tuple[str, str]:
    boms = (
        (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
        (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
        (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
        (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
        (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
    )
    text = None
    for bom, codec, name in boms:
        if data.startswith(bom):
            try:
                text, encoding = data.decode(codec), name
            except UnicodeDecodeError:
                raise ImportFileError("not_a_table")
            break
    if text is None:
        sample = data[:4096]
        if b"\x00" in sample:
            # UTF-16 without a byte-order mark: every other byte of Latin text is zero.
            even, odd = sample[0::2].count(0), sample[1::2].count(0)
            half = len(sample) // 2
            codec = "utf-16-le" if odd > half * 0.3 and even < odd / 4 else None
            if codec is None and even > half * 0.3 and odd < even / 4:
                codec = "utf-16-be"
            if codec is None:
                raise ImportFileError("not_a_table")
            try:
                text, encoding = data.decode(codec), "UTF-16"
            except UnicodeDecodeError:
                raise ImportFileError("not_a_table")
        else:
            try:
                text, encoding = data.decode("utf-8"), "UTF-8"
            except UnicodeDecodeError:
                try:
                    text, encoding = data.decode("cp1252"), "Windows-1252"
                except UnicodeDecodeError:
                    text, encoding = data.decode("latin-1"), "ISO-8859-1"
    text = text.lstrip("\ufeff")
    controls = sum(
        1 for ch in text[:65536] if ch not in "\t\r\n" and unicodedata.category(ch) == "Cc"
    )
    if "\x00" in text or controls > max(2, len(text[:65536]) // 200):
        raise ImportFileError("not_a_table")
    if text.lstrip()[:1] in ("<", "{"):
        # HTML, XML or JSON saved under a .csv name.
        raise ImportFileError("not_a_table")
    return text, encoding


def _sniff_delimiter(text: str) -> str:
    """Comma, semicolon or tab: the one that splits the header widest, and the rows alike."""
    sample = text[:65536]
    best, best_score = ",", (False, -1, -1)
    for delimiter in (",", ";", "\t"):
        rows = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter) if r]
        rows = [r for r in rows if any(c.strip() for c in r)][:25]
        if not rows:
            continue
        width = len(rows[0])
        alike = sum(1 for r in rows[1:-1] if len(r) == width)
        score = (width > 1, alike, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _blank(cells: list[str]) -> bool:
    return not any(str(c).strip() for c in cells)


def _read_csv(text: str, encoding: str, filename: str) -> Table:
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    headers: list[str] | None = None
    header_line = 0
    rows: list[tuple[int, int, list[str]]] = []
    last = 0
    try:
        for cells in reader:
            first, last = last + 1, reader.line_num
            if _blank(cells):
                continue
            if headers is None:
                headers, header_line = [c.strip() for c in cells], first
                continue
            rows.append((first, last, cells))
    except csv.Error:
        raise ImportFileError("not_a_table")
    return _table(
        headers, header_line, rows, filename, "csv", encoding=encoding, delimiter=delimiter
    )


def _table(headers, header_line, rows, filename, fmt, **details) -> Table:
    if headers is None:
        raise ImportFileError("empty")
    if not rows:
        if "name" not in match_columns(headers, []).fields:
            raise ImportFileError("no_name_column", headers=[h for h in headers if h][:30])
        raise ImportFileError("no_rows")
    matched = match_columns(headers, [cells for _first, _last, cells in rows])
    if "name" not in matched.fields:
        raise ImportFileError("no_name_column", headers=[h for h in headers if h][:30])
    return Table(
        filename=filename,
        format=fmt,
        headers=headers,
        header_line=header_line,
        columns=matched.fields,
        ignored=matched.ignored,
        rows=rows,
        column_notes=matched.notes,
        **details,
    )


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        if value.time() == datetime.min.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_xlsx(data: bytes, filename: str, sheet: str | None) -> Table:
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ImportFileError("not_a_table")
    if "xl/workbook.xml" not in names:
        # A Word document, an OpenDocument spreadsheet, a plain zip...
        raise ImportFileError("not_a_table")
    if unpacked > MAX_XLSX_UNPACKED_BYTES:
        raise ImportFileError("too_big")
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:
        raise ImportFileError("unreadable_xlsx")
    try:
        sheets = list(workbook.sheetnames)
        if sheet:
            if sheet not in sheets:
                raise ImportFileError("no_such_sheet", sheet=sheet, sheets=sheets)
            name = sheet
        elif len(sheets) == 1:
            name = sheets[0]
        else:
            raise SheetChoiceNeeded(sheets)
        worksheet = workbook[name]
        worksheet.reset_dimensions()  # never trust a declared size: read what is there
        headers: list[str] | None = None
        header_line = 0
        rows: list[tuple[int, int, list[str]]] = []
        try:
            for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
                if number > MAX_SHEET_ROWS:
                    raise ImportFileError("too_many_rows")
                cells = [_cell_text(v) for v in values]
                if _blank(cells):
                    continue
                if headers is None:
                    headers, header_line = [c.strip() for c in cells], number
                    continue
                rows.append((number, number, cells))
        except ImportFileError:
            raise
        except Exception:
            raise ImportFileError("unreadable_xlsx")
    finally:
        workbook.close()
    return _table(headers, header_line, rows, filename, "xlsx", sheet=name)
