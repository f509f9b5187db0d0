"""Reading coding sheets (xlsx or csv) by column name.

The header row is found by content, not by position: SAMM's sheet starts with
free text and has its header on row 14, releases reorder columns, and some
columns have no name at all. Rows keep their 1-based sheet row number so that
every warning and error can point at the cell a user has to look at.
"""
import csv
import os
import re

from microattention.errors import UserError

# How far down a sheet the header row is looked for.
HEADER_SEARCH_ROWS = 60


def normalise(name):
    """'Onset Frame', 'OnsetFrame', 'onset_frame' -> 'onsetframe'."""
    return re.sub(r"[^a-z0-9]", "", str(name or "").lower())


class Table:
    """Rows of one sheet as dicts keyed by canonical column names."""

    def __init__(self, path, sheet, header_row, columns, rows):
        self.path = path
        self.sheet = sheet
        self.header_row = header_row
        self.columns = columns      # canonical name -> header text found
        self.rows = rows            # list of (sheet row number, {canonical: value})

    def where(self, row_number):
        """'FILE, sheet S, row N' for messages."""
        return "%s, sheet %s, row %d" % (os.path.basename(self.path), self.sheet, row_number)


def _raw_sheets(path):
    """Yield (sheet name, list of row tuples) of an xlsx or csv file."""
    lower = path.lower()
    if lower.endswith(".xls"):
        raise UserError(
            "%s: old Excel .xls files are not supported (no xlrd in the image); "
            "open it and save it as .xlsx or .csv, then pass that file" % path)
    if lower.endswith(".csv"):
        with open(path, newline="", encoding="utf-8-sig") as handle:
            yield "csv", [tuple(row) for row in csv.reader(handle)]
        return
    if not lower.endswith((".xlsx", ".xlsm")):
        raise UserError("%s: expected an .xlsx or .csv sheet" % path)
    import openpyxl
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise UserError("%s: cannot read the workbook (%s)" % (path, exc))
    try:
        for sheet in book.worksheets:
            yield sheet.title, [tuple(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def read_table(path, aliases, required):
    """Read the first sheet of path that has a header row with all `required`
    canonical columns. `aliases` maps canonical name -> list of accepted
    header texts (compared after normalise())."""
    if not os.path.isfile(path):
        raise UserError("sheet not found: %s" % path)
    lookup = {}
    for canonical, names in aliases.items():
        for name in names:
            lookup[normalise(name)] = canonical
    for sheet_name, raw in _raw_sheets(path):
        for index, row in enumerate(raw[:HEADER_SEARCH_ROWS]):
            positions = {}
            for col, cell in enumerate(row):
                canonical = lookup.get(normalise(cell))
                if canonical is not None and canonical not in positions:
                    positions[canonical] = col
            if not all(name in positions for name in required):
                continue
            header_texts = {name: str(row[col]) for name, col in positions.items()}
            rows = []
            for offset, values in enumerate(raw[index + 1:]):
                record = {name: (values[col] if col < len(values) else None)
                          for name, col in positions.items()}
                if all(v is None or str(v).strip() == "" for v in record.values()):
                    continue  # blank line or a free-text note in an unused column
                rows.append((index + 2 + offset, record))
            return Table(path, sheet_name, index + 1, header_texts, rows)
    wanted = ", ".join("'%s'" % aliases[name][0] for name in required)
    raise UserError(
        "%s: no sheet has a header row with the columns %s in its first %d rows"
        % (path, wanted, HEADER_SEARCH_ROWS))
