"""The frames to crop: the faces stage's reading of the index (rows, their
frame paths, bad rows), gray frames, clips, and the work on one clip (locate
every frame, one crop box for the clip, cut and store each sample), run in
the parent or in forked workers."""
import os
from collections import OrderedDict

from microattention.datasets import index_file
from microattention.faces import aam, records
from microattention.faces.crop import crop_box, cut, shared_box, transform
from microattention.faces.locator import NO_FACE, Locator, quality

INDEX_NEEDS = ("dataset", "subject", "clip", "frame", "frame_path", "root")


def read_index(path):
    """The rows of an index CSV (datasets.index_file) for the faces stage, each
    with its row number (_row), sample id (_sid), real root (_root) and real
    frame path (_path)."""
    rows = index_file.read_index(path, needs=INDEX_NEEDS)
    base = os.path.dirname(os.path.abspath(path))
    for number, (sid, row) in enumerate(rows.items(), start=1):
        row["_row"] = number
        row["_sid"] = sid
        root = os.path.join(base, row["root"]) if row["root"] else base
        row["_root"] = os.path.realpath(root)
        row["_path"] = os.path.realpath(os.path.join(row["_root"], row["frame_path"]))
    return list(rows.values())


def row_problem(row):
    """Why a row's frame cannot be used (outside root / missing), or None."""
    root = row["_root"]
    if os.path.isabs(row["frame_path"]) or not (row["_path"] + os.sep).startswith(root + os.sep):
        return "frame path %s points outside its root %s" % (row["frame_path"], root)
    if not os.path.isfile(row["_path"]):
        return "frame missing: %s" % row["_path"]
    return None


def read_gray(path):
    """A frame file as a gray image, or None when OpenCV cannot read it."""
    import cv2  # lazy: keeps --help fast
    try:
        gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    except cv2.error:
        gray = None
    if gray is None or gray.size == 0:
        return None
    return gray


def groups_of(rows):
    """Rows grouped by clip (dataset, subject, clip), in order of first appearance."""
    groups = OrderedDict()
    for row in rows:
        groups.setdefault((row["dataset"], row["subject"], row["clip"]), []).append(row)
    return list(groups.values())


# --------------------------------------------------------------------------
# Workers

_STATE = {}


def init_worker(model_path, landmarks):
    """Build this process's Locator (with the AAM of `model_path` when
    `landmarks` is 'aam'); forked workers inherit it."""
    model = aam.load(model_path) if landmarks == "aam" else None
    _STATE["locator"] = Locator(model)


def process_group(task):
    """Locate, crop and record the frames of one clip. Returns one result per
    row: ('done', record) or ('bad', row number, reason)."""
    group, out_dir = task
    locator = _STATE["locator"]
    found = []
    results = {}
    for row in group:
        gray = read_gray(row["_path"])
        if gray is None:
            results[row["_row"]] = ("bad", row["_row"], "frame unreadable: %s" % row["_path"])
            continue
        located = locator.locate(gray)
        if located is None:
            results[row["_row"]] = ("done", records.record(row, "failed", NO_FACE))
            continue
        found.append((row, gray, located, crop_box(located["points"])))
    if found:
        box = shared_box([f[3] for f in found])
        for row, gray, located, _ in found:
            results[row["_row"]] = ("done", _store_crop(out_dir, row, gray, located, box))
    for row in group:
        result = results[row["_row"]]
        if result[0] == "done" and result[1]["status"] == "failed":
            records.write_sample(out_dir, records.safe_name(row["_sid"]), None, None,
                                 result[1])
    return [results[row["_row"]] for row in group]


def _store_crop(out_dir, row, gray, located, box):
    """Cut the clip's box from one located frame, write the sample; its record."""
    num = records.num
    crop, matrix = cut(gray, box)
    name = records.safe_name(row["_sid"])
    flag, why = quality(located)
    record = records.record(row, "ok", "; ".join(r for r in (located["note"], why) if r))
    l, t, r, b = located["box"]
    record.update({
        "crop": "crops/%s.png" % name, "quality": flag,
        "landmarks_used": located["used"], "fit_error": num(located["fit_error"]),
        "det_left": num(l), "det_top": num(t), "det_right": num(r),
        "det_bottom": num(b), "det_score": num(located["score"]),
        "crop_cx": num(box[0]), "crop_cy": num(box[1]), "crop_size": num(box[2]),
        "crop_angle": num(box[3]), "landmarks": "landmarks/%s.pts" % name})
    records.write_sample(out_dir, name, crop,
                         records.pts_text(transform(located["points"], matrix)), record)
    return record
