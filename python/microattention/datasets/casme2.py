"""CASME II: coding sheet + frame folders sub01/EP02_01f/img46.jpg.

Expected tree (ROOT = --root):
  ROOT/CASME2-coding-20190701.xlsx        (or --sheet FILE; older names accepted)
  ROOT/CASME2-ObjectiveClasses.xlsx       (optional; or --objective FILE)
  ROOT/Cropped/sub01/EP02_01f/reg_img46.jpg       (official cropped frames) and/or
  ROOT/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg (raw frames)
"""
import os
import re

from microattention.errors import UserError
from microattention.datasets.coded import (CLASS_ORDER, CODING_COLUMNS, check_keys,
                                           index_coded, read_objective,
                                           unused_objective_rows)
from microattention.datasets.files import (find_dir, find_file, is_folder, listdir,
                                           unreadable_below)
from microattention.datasets.sheets import cell_text, read_table

NAME = "casme2"
DISPLAY = "CASME II"
CLASSES = CLASS_ORDER
SHEET_PATTERNS = ["CASME2-coding-20190701.xlsx", "CASME2-coding-20140508.xlsx",
                  "CASME2-coding-updated.xlsx", "CASME2-coding*.xlsx", "CASME2-coding*.csv",
                  "CASME2_label_Ver_2.xls", "CASME2-coding*.xls"]
OBJECTIVE_PATTERNS = ["CASME2-ObjectiveClasses.xlsx", "CASME2-ObjectiveClasses*.csv",
                      "CASME2*Objective*.xlsx"]
FRAME_DIRS = {"cropped": ["Cropped", "CASME2_Cropped"],
              "raw": ["CASME2_RAW_selected", "CASME2-RAW-selected", "CASME2_RAW"]}


def subject_key(value):
    """1, '1', '01', 'sub01' -> 'sub01' (the frame folder name)."""
    text = cell_text(value)
    match = re.fullmatch(r"(?i)(?:sub)?0*(\d+)", text)
    return "sub%02d" % int(match.group(1)) if match else None


def frames_dir(root, choice):
    order = ["cropped", "raw"] if choice == "auto" else [choice]
    for kind in order:
        found = find_dir(root, FRAME_DIRS[kind], depth=2)
        if found:
            # Some archives nest the folder in one of the same name.
            inner = os.path.join(found, os.path.basename(found))
            return (inner if is_folder(inner) else found), kind
    if choice == "auto" and any(re.fullmatch(r"sub\d+", d) for d in listdir(root)):
        return root, "root"
    raise UserError(
        "CASME II: no %s frame folder below %s; expected %s with sub01/EP02_01f/... "
        "(choose with --frames raw|cropped)%s" % (
            "/".join(order), root, " or ".join(n for k in order for n in FRAME_DIRS[k][:1]),
            unreadable_below(root)))


def index(root, opts, col):
    sheet = opts.sheet or _discover(root, SHEET_PATTERNS, "coding sheet", required=True)
    objective_path = None
    if not opts.derive_classes:
        objective_path = opts.objective or _discover(root, OBJECTIVE_PATTERNS, None)
    folder, kind = frames_dir(root, opts.frames)
    col.note("frames from %s (%s)" % (col.relpath(folder), kind))
    table = read_table(col.read_input(sheet), CODING_COLUMNS, ["subject", "filename", "apex"])
    col.note("coding sheet %s, sheet %s, header on row %d"
             % (os.path.basename(sheet), table.sheet, table.header_row))
    objective = read_objective(objective_path, subject_key, col) if objective_path else None
    check_keys(objective, objective_path, table, subject_key)
    index_coded(col, table, subject_key, lambda s, c: os.path.join(folder, s, c),
                objective=objective, derive=opts.derive_classes)
    if objective is not None:
        unused_objective_rows(col, objective, table, subject_key)


def _discover(root, patterns, what, required=False):
    found = find_file(root, patterns, depth=2)
    if found:
        return found[0]
    if required:
        raise UserError("%s: no %s found below %s (looked for %s); pass --sheet FILE%s"
                        % (DISPLAY, what, root, ", ".join(patterns[:3]), unreadable_below(root)))
    return None
