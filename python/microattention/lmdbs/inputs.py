"""The inputs of one LMDB: the index (its rows with their family and class
number), the faces folder's faces.csv, the sample selection (--samples,
--subjects, --exclude-subjects) and each sample's crop, checked to be a
240x240 8-bit gray PNG."""
import collections
import csv
import io
import os
import struct

from microattention import augment
from microattention.datasets.classes import CLASSES, FAMILY
from microattention.datasets import index_file
from microattention.datasets.common import sample_id
from microattention.errors import UserError

FACES_CSV = "faces.csv"
FACES_COLUMNS = ("sample_id", "crop", "status")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_index(path):
    """Rows of the index (datasets.index_file) with their sample id, row
    number, family and class number, and the family (one per LMDB)."""
    rows = list(index_file.read_index(path).values())
    return rows, label_rows(rows, path)


def class_numbers(rows, path):
    """sample id -> class number of index rows read before (rows left as they are)."""
    copies = [dict(row) for row in rows.values()]
    label_rows(copies, path)
    return {row["_id"]: row["_label"] for row in copies}


def label_rows(rows, path):
    """Give each row its sample id (_id), row number (_row) and class number
    (_label); the family they share, or a UserError naming the row."""
    families = collections.OrderedDict()
    for number, row in enumerate(rows, start=2):
        family = FAMILY.get(row["dataset"])
        if family is None:
            raise UserError("%s row %d: unknown dataset %r (expected one of %s)"
                            % (path, number, row["dataset"], ", ".join(sorted(FAMILY))))
        families.setdefault(family, row["dataset"])
        if row["label"] not in CLASSES[family]:
            raise UserError("%s row %d: label %r is not a class of %s (%s)"
                            % (path, number, row["label"], row["dataset"],
                               ", ".join(CLASSES[family])))
        row["_id"] = sample_id(row)
        row["_row"] = number
        row["_label"] = CLASSES[family].index(row["label"])
    if len(families) > 1:
        raise UserError("%s mixes datasets with different class sets (%s); build one LMDB "
                        "per family" % (path, ", ".join(
                            "%s: %s" % (d, f) for f, d in families.items())))
    return next(iter(families))


def read_faces(folder):
    """The faces folder's faces.csv: sample id -> (crop, status, row number),
    and the path of the CSV."""
    path = os.path.join(folder, FACES_CSV)
    if not os.path.isdir(folder):
        raise UserError("faces folder %s not found (write it with the faces command)" % folder)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in FACES_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise UserError("%s: missing column(s) %s" % (path, ", ".join(missing)))
            faces = {}
            for number, row in enumerate(reader, start=2):
                faces[row["sample_id"]] = (row["crop"], row["status"], number)
    except FileNotFoundError:
        raise UserError("%s not found: --faces must be a folder written by the faces command"
                        % path)
    except OSError as exc:
        raise UserError("cannot read %s: %s" % (path, exc.strerror or exc))
    return faces, path


def read_samples_file(path):
    """Sample ids, one per line ('#' comments), or the sample_id column of a CSV."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise UserError("cannot read --samples %s: %s" % (path, exc.strerror or exc))
    lines = [l.strip() for l in text.splitlines()]
    lines = [l for l in lines if l and not l.startswith("#")]
    if lines and "sample_id" in next(csv.reader([lines[0]])):
        ids = [r["sample_id"].strip() for r in csv.DictReader(io.StringIO(text))]
        ids = [i for i in ids if i]
    else:
        ids = lines
    if not ids:
        raise UserError("--samples %s lists no sample ids" % path)
    return ids


def select(rows, index_path, samples=None, subjects=(), exclude_subjects=()):
    """The rows chosen by --samples, --subjects or --exclude-subjects (all
    rows without them)."""
    if samples:
        ids = read_samples_file(samples)
        by_id = {r["_id"]: r for r in rows}
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise UserError("--samples %s: %d id(s) not in %s, e.g. %s"
                            % (samples, len(unknown), index_path, ", ".join(unknown[:5])))
        wanted = set(ids)
        return [r for r in rows if r["_id"] in wanted]
    names = subjects or exclude_subjects
    if not names:
        return list(rows)
    option = "--subjects" if subjects else "--exclude-subjects"
    known = {r["subject"] for r in rows} | {"%s/%s" % (r["dataset"], r["subject"]) for r in rows}
    unknown = [s for s in names if s not in known]
    if unknown:
        raise UserError("%s: subject(s) %s not in %s" % (option, ", ".join(unknown), index_path))
    names = set(names)

    def chosen(r):
        return r["subject"] in names or "%s/%s" % (r["dataset"], r["subject"]) in names
    return [r for r in rows if chosen(r) == bool(subjects)]


def png_header(path):
    """(width, height, bit depth, colour type) of a PNG file, or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(26)
    except OSError:
        return None
    if len(head) < 26 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    return width, height, depth, colour


def attach_faces(rows, faces, faces_dir, faces_csv, skip_bad):
    """Each row's crop path; rows without a usable face are errors, or with
    skip_bad are left out and returned as (sample id, reason)."""
    kept, bad = [], []
    for row in rows:
        entry = faces.get(row["_id"])
        if entry is None:
            reason = "not in %s" % faces_csv
        else:
            crop, status, number = entry
            path = os.path.join(faces_dir, crop)
            header = png_header(path) if crop else None
            if status != "ok":
                reason = "face status %r in %s row %d" % (status, faces_csv, number)
            elif not crop or not os.path.isfile(path):
                reason = "crop %r of %s row %d not found" % (crop, faces_csv, number)
            elif header is None:
                reason = "crop %s is not a PNG" % path
            elif header != (augment.FACE_SIZE, augment.FACE_SIZE, 8, 0):
                reason = ("crop %s is %dx%d, %d-bit, PNG colour type %d; expected %dx%d "
                          "8-bit gray" % ((path,) + header + (augment.FACE_SIZE,) * 2))
            else:
                row["_crop"] = path
                kept.append(row)
                continue
        bad.append((row["_id"], reason))
    if bad and not skip_bad:
        shown = "\n  ".join("%s: %s" % b for b in bad[:20])
        more = "\n  ... and %d more" % (len(bad) - 20) if len(bad) > 20 else ""
        raise UserError("%d sample(s) of the index have no usable face:\n  %s%s\nRerun the "
                        "faces command, or use --skip-bad to leave them out (they are "
                        "counted)." % (len(bad), shown, more))
    return kept, bad
