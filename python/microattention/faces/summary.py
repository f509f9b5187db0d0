"""The crop command's results: faces.csv (one row per index row, in index
order), summary.json and summary.md, and the lines it prints."""
import csv
import io
import json
import os
import sys
from collections import Counter, OrderedDict

from microattention import files
from microattention.faces.crop import CROP_SIZE, FOREHEAD, MARGIN
from microattention.faces.records import CSV_COLUMNS


def write_results(out_dir, index, records, excluded, settings, model_note, processed,
                  elapsed):
    """Write faces.csv, summary.json and summary.md together; print the table."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({c: rec.get(c, "") for c in CSV_COLUMNS})
    status = Counter(r["status"] for r in records)
    failed = Counter(r["reason"] for r in records if r["status"] == "failed")
    ok = [r for r in records if r["status"] == "ok"]
    summary = OrderedDict([
        ("index", os.path.abspath(index)), ("rows", len(records)),
        ("found", status["ok"]), ("failed", status["failed"]),
        ("failed_by_reason", dict(failed)), ("excluded", status["excluded"]),
        ("excluded_by_reason", dict(excluded)),
        ("quality_low", sum(r["quality"] == "low" for r in ok)),
        ("landmarks_used", dict(Counter(r["landmarks_used"] for r in ok))),
        ("aam_model", model_note), ("settings", settings),
        ("processed_this_run", processed), ("seconds_this_run", round(elapsed, 1))])
    md = _markdown(summary, status, failed, excluded, settings, model_note)
    files.write_together({
        os.path.join(out_dir, "faces.csv"): buffer.getvalue(),
        os.path.join(out_dir, "summary.json"): json.dumps(summary, indent=1) + "\n",
        os.path.join(out_dir, "summary.md"): "\n".join(md)})
    sys.stdout.write("\n".join(md[4:7]) + "\n")
    sys.stdout.write("wrote %s (faces.csv, crops/, landmarks/, summary.md)\n" % out_dir)


def _markdown(summary, status, failed, excluded, settings, model_note):
    """The lines of summary.md (lines 4-6 are the table the command prints)."""
    md = ["# faces summary", "",
          "index: %s" % summary["index"], "",
          "| rows | found | failed | excluded | quality low |", "|---|---|---|---|---|",
          "| %d | %d | %d | %d | %d |" % (summary["rows"], status["ok"], status["failed"],
                                          status["excluded"], summary["quality_low"]), "",
          "landmarks: %s (used per crop: %s)" % (settings["landmarks"],
                                                  ", ".join("%s %d" % kv for kv in sorted(
                                                      summary["landmarks_used"].items()))
                                                  or "none"),
          "AAM model: %s" % model_note, ""]
    for title, counter in (("failed", failed), ("excluded", excluded)):
        if counter:
            md += ["%s by reason:" % title, ""]
            md += ["- %s: %d" % kv for kv in sorted(counter.items())]
            md.append("")
    md += ["crop: %dx%d gray, roll levelled from the eye centres, forehead %.2f, margin %.2f, "
           "one box per clip" % (CROP_SIZE, CROP_SIZE, FOREHEAD, MARGIN), ""]
    return md
