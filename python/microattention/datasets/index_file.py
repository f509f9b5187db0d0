"""The index CSV that the `index` command writes (one row per sample: dataset,
subject, clip, apex frame, label, ...): the one reader every stage uses."""
import csv
from collections import OrderedDict

from microattention.datasets.common import sample_id
from microattention.errors import UserError

NEEDED = ("dataset", "subject", "clip", "frame", "label")
NOT_EMPTY = ("dataset", "subject", "label")


def read_index(path, needs=NEEDED):
    """The rows of an index CSV, keyed by sample id (OrderedDict in file order).
    `needs` are the columns the caller uses; every error names the file (and
    the row)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None:
                raise UserError("index %s is empty (no header row)" % path)
            missing = [c for c in needs if c not in reader.fieldnames]
            if missing:
                raise UserError("index %s lacks the column(s) %s; is it an index written by "
                                "'python3 -m microattention index'?" % (path, ", ".join(missing)))
            rows = _rows(reader, path, [c for c in NOT_EMPTY if c in needs])
    except FileNotFoundError:
        raise UserError("index %s does not exist" % path)
    except IsADirectoryError:
        raise UserError("index %s is a folder, not a CSV file" % path)
    except UnicodeDecodeError:
        raise UserError("index %s is not a UTF-8 CSV file" % path)
    except csv.Error as exc:
        raise UserError("index %s: not a readable CSV (%s)" % (path, exc))
    if not rows:
        raise UserError("index %s has no samples" % path)
    return rows


def _rows(reader, path, not_empty):
    rows = OrderedDict()
    for line, row in enumerate(reader, start=2):
        for column in not_empty:
            if not (row.get(column) or "").strip():
                raise UserError("index %s row %d: empty %s" % (path, line, column))
        key = sample_id(row)
        if key in rows:
            raise UserError("index %s row %d: sample %s is listed twice" % (path, line, key))
        rows[key] = row
    return rows
