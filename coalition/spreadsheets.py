"""Spreadsheet downloads (CSV and XLSX) that no spreadsheet program runs as code.

Every cell that starts like a formula is neutralised with a leading quote,
as OWASP recommends against CSV injection.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date
from typing import Any

# The media type of each format, without parameters: a text type's response gets
# its "; charset=utf-8" from Flask (given here too, it would be sent twice).
MEDIA_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# A cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Text a spreadsheet would run as a formula, made inert with a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(header: list[str], body: Iterable[list[Any]]) -> bytes:
    """UTF-8 with a byte-order mark, so that spreadsheet programs read the accents right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    for row in body:
        writer.writerow(
            [neutralise(v.isoformat() if isinstance(v, date) else v) if v is not None else ""
             for v in row]
        )  # fmt: skip
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(header: list[str], body: Iterable[list[Any]], title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    cells = []
    for text in header:
        cell = WriteOnlyCell(sheet, value=neutralise(text))
        cell.font = bold
        cells.append(cell)
    sheet.append(cells)
    for row in body:
        # Neutralised, no text starts with "=", which is what openpyxl takes for a formula.
        sheet.append([neutralise(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
