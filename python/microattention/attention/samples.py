"""The inputs of the visualize command: face crops, their 68 iBUG landmarks
(.pts), the samples' classes (an index CSV or sample_id,label), and the list
of samples from --images or a faces folder (--faces, --samples).
"""
import csv
import os

import numpy as np

from microattention import augment, lmdbs
from microattention.datasets.classes import CLASSES
from microattention.attention.regions import N_POINTS, REGION_AUS
from microattention.datasets.common import sample_id
from microattention.errors import UserError


def read_pts(path, option="--landmarks"):
    """(68, 2) 0-based (x, y) pixel points of an iBUG .pts file (1-based, as
    menpo and the faces command write it)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise UserError("%s %s: cannot read: %s" % (option, path, exc.strerror or exc))
    except UnicodeDecodeError:
        raise UserError("%s %s: not a text .pts file" % (option, path))
    if "{" not in text or "}" not in text:
        raise UserError("%s %s: not an iBUG .pts file (no { } block)" % (option, path))
    body = text[text.index("{") + 1:text.rindex("}")]
    try:
        values = [float(v) for v in body.split()]
    except ValueError:
        raise UserError("%s %s: non-numeric coordinates" % (option, path))
    if len(values) % 2:
        raise UserError("%s %s: an odd number of coordinates" % (option, path))
    points = np.array(values).reshape(-1, 2) - 1.0
    if len(points) != N_POINTS:
        raise UserError("%s %s: %d landmarks; the AU regions need the %d iBUG points"
                        % (option, path, len(points), N_POINTS))
    return points


def read_face(path, option):
    import cv2  # lazy: OpenCV is optional outside the image (its tests skip without it)
    if not os.path.isfile(path):
        raise UserError("%s %s: image not found" % (option, path))
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise UserError("%s %s: not an image OpenCV can read" % (option, path))
    if image.shape[0] != image.shape[1]:
        raise UserError("%s %s is %dx%d; give square face crops (the faces command writes "
                        "%dx%d)" % (option, path, image.shape[1], image.shape[0],
                                    augment.FACE_SIZE, augment.FACE_SIZE))
    return image


def _read_csv(path, option):
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            return list(reader), list(reader.fieldnames or ())
    except OSError as exc:
        raise UserError("%s %s: cannot read: %s" % (option, path, exc.strerror or exc))
    except UnicodeDecodeError:
        raise UserError("%s %s: not a UTF-8 CSV" % (option, path))


def read_labels_csv(path):
    """{sample id: class} from an index CSV or a CSV with sample_id, label."""
    rows, columns = _read_csv(path, "--labels")
    if "sample_id" in columns and "label" in columns:
        return {r["sample_id"]: r["label"] for r in rows}
    if all(c in columns for c in ("dataset", "subject", "clip", "frame", "label")):
        return {sample_id(r): r["label"] for r in rows}
    raise UserError("--labels %s: expected an index CSV or columns sample_id, label" % path)


def known_class(label):
    """Whether a label is a class of this project (scored or not)."""
    return label in REGION_AUS or any(label in c for c in CLASSES.values())


def collect_samples(args):
    """[(sample id, image path, landmarks path or None, label or None)]."""
    if args.images:
        return image_samples(args)
    return faces_samples(args)


def image_samples(args):
    """collect_samples for --images: one sample per image, named by its file."""
    samples = []
    labels = list(args.labels or ())
    if len(labels) == 1 and os.path.isfile(labels[0]):
        by_name = read_labels_csv(labels[0])
        labels = [by_name.get(os.path.splitext(os.path.basename(p))[0]) for p in args.images]
    elif labels and len(labels) != len(args.images):
        raise UserError("--labels: %d class name(s) for %d image(s); give one per image"
                        % (len(labels), len(args.images)))
    marks = [None] * len(args.images)
    if args.landmarks:
        if os.path.isdir(args.landmarks):
            marks = [os.path.join(args.landmarks,
                                  os.path.splitext(os.path.basename(p))[0] + ".pts")
                     for p in args.images]
        elif len(args.images) == 1:
            marks = [args.landmarks]
        else:
            raise UserError("--landmarks %s: give a folder of <image name>.pts for %d images"
                            % (args.landmarks, len(args.images)))
    seen = set()
    for i, path in enumerate(args.images):
        sid = os.path.splitext(os.path.basename(path))[0]
        if sid in seen:
            raise UserError("--images: two images named %s; names key the outputs" % sid)
        seen.add(sid)
        samples.append((sid, path, marks[i], labels[i] if labels else None))
    return samples


def faces_samples(args):
    """collect_samples for --faces: the rows of faces.csv with a face (or the
    --samples among them)."""
    faces_csv = os.path.join(args.faces, "faces.csv")
    if not os.path.isfile(faces_csv):
        raise UserError("--faces %s: %s not found (write it with the faces command)"
                        % (args.faces, faces_csv))
    rows, columns = _read_csv(faces_csv, "--faces")
    missing = [c for c in ("sample_id", "crop", "status", "landmarks") if c not in columns]
    if missing:
        raise UserError("%s: missing column(s) %s" % (faces_csv, ", ".join(missing)))
    wanted = wanted_samples(args.samples, rows, faces_csv) if args.samples else None
    labels = {}
    if args.labels:
        if len(args.labels) != 1:
            raise UserError("--labels: with --faces give one index CSV (or sample_id,label CSV)")
        labels = read_labels_csv(args.labels[0])
    order = wanted if wanted is not None else [r["sample_id"] for r in rows if r["status"] == "ok"]
    by_id = {r["sample_id"]: r for r in rows}
    samples = []
    for sid in order:
        row = by_id[sid]
        image = os.path.join(args.faces, row["crop"])
        if args.landmarks:
            stem = os.path.splitext(os.path.basename(row["crop"]))[0]
            mark = os.path.join(args.landmarks, stem + ".pts")
        else:
            mark = os.path.join(args.faces, row["landmarks"]) if row["landmarks"] else None
        if args.labels and sid not in labels:
            raise UserError("--labels %s has no row for sample %s" % (args.labels[0], sid))
        samples.append((sid, image, mark, labels.get(sid)))
    if not samples:
        raise UserError("%s lists no sample with status ok" % faces_csv)
    return samples


def wanted_samples(values, rows, faces_csv):
    """The sample ids of --samples (ids, or files listing them), each a row of
    faces.csv with a face."""
    wanted = []
    for value in values:
        wanted += lmdbs.read_samples_file(value) if os.path.isfile(value) else [value]
    known = {r["sample_id"]: r for r in rows}
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise UserError("--samples: %s not in %s" % (", ".join(unknown[:5]), faces_csv))
    bad = [s for s in wanted if known[s]["status"] != "ok"]
    if bad:
        raise UserError("--samples: %s have no face (status in %s)"
                        % (", ".join(bad[:5]), faces_csv))
    return wanted
