"""The activity export as an XLSX workbook, like La Coop's own (buildAccompagnementsWorksheet.ts upstream): a
sheet named "Activités", the same columns and rows as the CSV, dates as dates, counts and durations as
numbers, line breaks inside a cell kept, one filter button per column.

La Coop writes its export's metadata and filters above the table; the kit starts with the header on row 1,
so the file opens on the data and sorts and filters without first selecting a range.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import datetime

from kiosk.services.mediation.activity import Record, export_table
from kiosk.services.mediation.outings import Outing

SHEET = "Activités"
DATE_COLUMNS = frozenset({"Date"})
NUMBER_COLUMNS = frozenset({"Durée (min)", "ID CRA", "Sortie"})
MAX_WIDTH = 50


def _typed(column: str, value: str) -> object:
    if not value:
        return None
    if column in DATE_COLUMNS:
        return datetime.strptime(value, "%d/%m/%Y")
    if column in NUMBER_COLUMNS or (column == "Participants" and value.isdigit()):
        return int(value)
    return value


def export_xlsx(records: Iterable[Record], outings: Mapping[int, Outing]) -> bytes:
    """The workbook's bytes: header, then one row per accompaniment (a workshop of 6 gives 6 rows)."""
    # Imported here: openpyxl (with Pillow) weighs about 18 MB, in a process every phone's probes go through,
    # for an export a mediator makes now and then.
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    header, *rows = export_table(records, outings)
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    top = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        sheet.append([_typed(column, value) for column, value in zip(header, row, strict=True)])
        for cell in sheet[sheet.max_row]:
            cell.alignment = top
            if cell.is_date:
                cell.number_format = "dd/mm/yyyy"
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{max(sheet.max_row, 1)}"
    for index, column in enumerate(header, start=1):
        longest = max([len(column), *(len(line) for row in rows for line in row[index - 1].split("\n"))])
        sheet.column_dimensions[get_column_letter(index)].width = min(longest + 2, MAX_WIDTH)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
