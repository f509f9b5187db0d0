"""SAMM: coding sheet with free text above the header + SAMM/006/006_1_2/006_05562.jpg.

Expected tree (ROOT = --root):
  ROOT/SAMM_Micro_FACS_Codes_v2.xlsx   (or --sheet FILE); header found by name
  ROOT/SAMM/006/006_1_2/006_05562.jpg  (frame numbers padded to 4 or 5 digits)
The sheet's 'Objective Classes' column gives the classes; --objective FILE
(Subject, Filename, Objective Class) overrides it, --derive-classes ignores both.
"""
import os
import re

from microattention.errors import UserError
from microattention.datasets.coded import (CLASS_ORDER, CODING_COLUMNS, check_keys,
                                           index_coded, read_objective,
                                           unused_objective_rows)
from microattention.datasets.files import find_dir, find_file, listdir, unreadable_below
from microattention.datasets.sheets import cell_text, read_table

NAME = "samm"
DISPLAY = "SAMM"
CLASSES = CLASS_ORDER
SHEET_PATTERNS = ["SAMM_Micro_FACS_Codes_v2.xlsx", "SAMM_Micro_FACS_Codes*.xlsx",
                  "SAMM*FACS*.xlsx", "SAMM*FACS*.csv", "SAMM*.xls"]


def subject_key(value):
    """6, '6', '006' -> '006' (the frame folder name)."""
    text = cell_text(value)
    return "%03d" % int(text) if re.fullmatch(r"\d+", text) else None


def index(root, opts, col):
    sheet = opts.sheet
    if not sheet:
        found = find_file(root, SHEET_PATTERNS, depth=2)
        if not found:
            raise UserError("SAMM: no coding sheet found below %s (looked for %s); "
                            "pass --sheet FILE%s" % (root, SHEET_PATTERNS[0],
                                                     unreadable_below(root)))
        sheet = found[0]
    frames = find_dir(root, ["SAMM"], depth=1)
    if frames is None:
        if not any(re.fullmatch(r"\d{3}", d) for d in listdir(root)):
            raise UserError("SAMM: no frame folders below %s; expected SAMM/006/006_1_2/"
                            "006_05562.jpg%s" % (root, unreadable_below(root, 1)))
        frames = root
    col.note("frames from %s" % (col.relpath(frames)))
    table = read_table(col.read_input(sheet), CODING_COLUMNS, ["subject", "filename", "apex"])
    col.note("coding sheet %s, sheet %s, header on row %d"
             % (os.path.basename(sheet), table.sheet, table.header_row))
    objective = None
    if opts.objective and not opts.derive_classes:
        objective = read_objective(opts.objective, subject_key, col)
        check_keys(objective, opts.objective, table, subject_key)
    index_coded(col, table, subject_key, lambda s, c: os.path.join(frames, s, c),
                objective=objective, derive=opts.derive_classes)
    if objective is not None:
        unused_objective_rows(col, objective, table, subject_key)
