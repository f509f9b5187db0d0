"""The demo's own files as text: index CSVs read and written, and its JSON
(settings, stage records) with the Config's namedtuples as plain objects."""
import collections
import csv
import io
import json


def plain(value):
    """JSON for the namedtuples inside a Config (augmentations)."""
    if hasattr(value, "_asdict"):
        return collections.OrderedDict(value._asdict())
    raise TypeError("%r is not JSON serialisable" % (value,))


def json_text(doc):
    """The demo's JSON files' text (indent 1, a final newline)."""
    return json.dumps(doc, indent=1, default=plain) + "\n"


def read_csv(path):
    """(rows as dicts, column names) of a CSV file."""
    with open(str(path), newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader), reader.fieldnames


def csv_text(columns, rows):
    """An index CSV's text: header and rows (dicts), "\\n" line ends."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()
