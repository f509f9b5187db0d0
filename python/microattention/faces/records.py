"""The stored result of one sample: its record (a faces.csv row, kept as
records/<name>.json), its crop PNG and its landmark .pts file, written so
that a record marks a finished sample (a run resumes from them)."""
import hashlib
import json
import os
import re

from microattention import files
from microattention.errors import UserError

CSV_COLUMNS = ["sample_id", "crop", "status", "reason", "quality", "landmarks_used",
               "fit_error", "det_left", "det_top", "det_right", "det_bottom", "det_score",
               "crop_cx", "crop_cy", "crop_size", "crop_angle", "landmarks", "frame"]


def safe_name(sid):
    """A file name for a sample id: readable, and unique through a hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", sid.replace("/", "__")).strip("._")[:120]
    return "%s-%s" % (readable, hashlib.sha1(sid.encode("utf-8")).hexdigest()[:8])


def num(value):
    """A number as a faces.csv cell: 4 decimals, '' for NaN."""
    return "" if value != value else "%.4f" % value


def record(row, status, reason):
    """A record of an index row with every CSV column, the crop's left empty."""
    rec = {c: "" for c in CSV_COLUMNS}
    rec.update({"sample_id": row["_sid"], "status": status, "reason": reason,
                "frame": row["_path"]})
    return rec


def pts_text(points):
    """iBUG .pts (x y, 1-based as menpo's exporter writes them)."""
    lines = ["version: 1", "n_points: %d" % len(points), "{"]
    lines += ["%.3f %.3f" % (x + 1.0, y + 1.0) for x, y in points]
    return "\n".join(lines + ["}", ""])


def _encode_png(gray):
    import cv2  # lazy: keeps --help fast
    ok, data = cv2.imencode(".png", gray, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    return data.tobytes()


def write_sample(out_dir, name, crop, pts, record):
    """Crop and landmarks first, the record last: a record marks a sample done."""
    if crop is not None:
        files.write_together({
            os.path.join(out_dir, "crops", name + ".png"): _encode_png(crop),
            os.path.join(out_dir, "landmarks", name + ".pts"): pts})
    files.atomic_write(os.path.join(out_dir, "records", name + ".json"),
                       json.dumps(record, sort_keys=True))


def load_record(out_dir, row):
    """The stored record of a finished sample, or None (also when its crop is gone)."""
    name = safe_name(row["_sid"])
    path = os.path.join(out_dir, "records", name + ".json")
    try:
        record = files.read_json(path)
    except UserError:       # damaged: cropped again
        return None
    if not isinstance(record, dict) or record.get("sample_id") != row["_sid"]:
        return None
    if record.get("status") == "ok" and not (
            os.path.isfile(os.path.join(out_dir, record["crop"]))
            and os.path.isfile(os.path.join(out_dir, record["landmarks"]))):
        return None
    return record
