"""Reading coding sheets (xlsx or csv) by column name.

The header row is found by content, not by position: SAMM's sheet starts with
free text and has its header on row 14, releases reorder columns, and some
columns have no name at all. Rows keep their 1-based sheet row number so that
every warning and error can point at the cell a user has to look at.
"""
import csv
import io
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


CSV_DELIMITERS = ",;\t"   # Excel writes ';' in locales with a decimal comma


def _csv_text(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise UserError("%s: cannot read the sheet: %s" % (path, exc.strerror or exc))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UserError(
            "%s, line %d: byte 0x%02x is not UTF-8 text; save the sheet as "
            "'CSV UTF-8' (or .xlsx)" % (path, line, data[exc.start]))


def _raw_sheets(path):
    """Yield (sheet name, list of row tuples) of an xlsx or csv file. A csv
    file is offered once per usual delimiter; the first reading that has the
    header row wins."""
    lower = path.lower()
    if lower.endswith(".xls"):
        raise UserError(
            "%s: old Excel .xls files are not supported (no xlrd in the image); "
            "open it and save it as .xlsx or .csv, then pass that file" % path)
    if lower.endswith(".csv"):
        text = _csv_text(path)
        for delimiter in CSV_DELIMITERS:
            try:
                rows = [tuple(row) for row in csv.reader(io.StringIO(text, newline=""),
                                                         delimiter=delimiter)]
            except csv.Error as exc:
                raise UserError("%s: not a readable CSV file (%s)" % (path, exc))
            yield "csv", rows, {}
        return
    if not lower.endswith((".xlsx", ".xlsm")):
        raise UserError("%s: expected an .xlsx or .csv sheet" % path)
    import openpyxl  # lazy: only .xlsx sheets need it
    books = []
    try:
        for data_only in (True, False):
            try:
                books.append(openpyxl.load_workbook(path, read_only=True, data_only=data_only))
            except Exception as exc:  # openpyxl raises many kinds for a damaged file
                raise UserError("%s: cannot read the workbook (%s: %s); is it really an .xlsx "
                                "file?" % (path, type(exc).__name__, exc))
        values, formulas = books
        for sheet, sheet_formulas in zip(values.worksheets, formulas.worksheets):
            try:
                rows = [tuple(row) for row in sheet.iter_rows(values_only=True)]
                cells = [tuple(row) for row in sheet_formulas.iter_rows(values_only=True)]
            except Exception as exc:  # damaged sheet XML inside a valid zip
                raise UserError("%s, sheet %s: cannot read it (%s: %s)"
                                % (path, sheet.title, type(exc).__name__, exc))
            yield sheet.title, rows, _uncached(rows, cells)
    finally:
        for book in books:
            book.close()


def _uncached(rows, cells):
    """{(row, column) 0-based: formula} of the cells that hold a formula but
    no stored result. openpyxl reads the result Excel or LibreOffice saved
    with the formula; a sheet written by a program that does not compute
    (openpyxl, pandas) has none, and the cell would read as empty."""
    out = {}
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            if isinstance(cell, str) and cell.startswith("="):
                value = rows[r][c] if r < len(rows) and c < len(rows[r]) else None
                if value is None:
                    out[(r, c)] = cell
    return out


def column_letter(index):
    """0 -> 'A', 27 -> 'AB' (the spreadsheet's own name of a column)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def read_table(path, aliases, required):
    """Read the first sheet of path that has a header row with all `required`
    canonical columns. `aliases` maps canonical name -> list of accepted
    header texts (compared after normalise())."""
    if not os.path.exists(path):
        raise UserError("sheet not found: %s" % path)
    if not os.path.isfile(path):
        raise UserError("%s is not a file (a sheet was expected)" % path)
    lookup = {}
    for canonical, names in aliases.items():
        for name in names:
            lookup[normalise(name)] = canonical
    best = None   # (columns found, sheet, row) of the closest header, for the message
    for sheet_name, raw, uncached in _raw_sheets(path):
        for index, row in enumerate(raw[:HEADER_SEARCH_ROWS]):
            positions = {}
            for col, cell in enumerate(row):
                canonical = lookup.get(normalise(cell))
                if canonical is not None and canonical not in positions:
                    positions[canonical] = col
            found = [name for name in required if name in positions]
            if found and (best is None or len(found) > len(best[0])):
                best = (found, sheet_name, index + 1)
            if len(found) < len(required):
                continue
            header_texts = {name: str(row[col]) for name, col in positions.items()}
            used = set(positions.values())
            blind = sorted((r, c) for r, c in uncached if r > index and c in used)
            if blind:
                raise UserError(
                    "%s, sheet %s: %d cell(s) hold a formula without a stored result, so their "
                    "value is unknown: %s. Open the file in Excel or LibreOffice and save it "
                    "(which stores the results), or type the values"
                    % (path, sheet_name, len(blind), "; ".join(
                        "row %d, cell %s%d (%s): %s" % (
                            r + 1, column_letter(c), r + 1, str(row[c]), uncached[(r, c)])
                        for r, c in blind[:5])))
            rows = []
            for offset, values in enumerate(raw[index + 1:]):
                record = {name: (values[col] if col < len(values) else None)
                          for name, col in positions.items()}
                if all(v is None or str(v).strip() == "" for v in record.values()):
                    continue  # blank line or a free-text note in an unused column
                rows.append((index + 2 + offset, record))
            return Table(path, sheet_name, index + 1, header_texts, rows)
    if best is not None:
        missing = [name for name in required if name not in best[0]]
        raise UserError(
            "%s, sheet %s: the header on row %d has no column %s (accepted names: %s)"
            % (path, best[1], best[2], " or ".join("'%s'" % aliases[m][0] for m in missing),
               "; ".join(", ".join(aliases[m]) for m in missing)))
    wanted = ", ".join("'%s'" % aliases[name][0] for name in required)
    raise UserError(
        "%s: no sheet has a header row with the columns %s in its first %d rows"
        % (path, wanted, HEADER_SEARCH_ROWS))


def cell_text(value):
    """A sheet cell as text: integral floats lose their '.0', None is ''."""
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value).strip()


def parse_int(value):
    """An integer from a sheet cell, or None when it is not a whole number."""
    text = cell_text(value)
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return None
