"""CK+: sequences go neutral -> peak; the last 3 frames of each sequence
labelled with one of the 5 classes (paper 4.1: 852 images).

Expected tree (ROOT = --root):
  ROOT/cohn-kanade-images/S005/001/S005_001_00000011.png
  ROOT/Emotion/S005/001/S005_001_00000011_emotion.txt   (one number, 0-7)
(either folder may sit one level deeper, as in some archives.)
"""
import os

from microattention.errors import UserError
from microattention.datasets.files import find_dir, is_folder, listdir, unreadable_below
from microattention.naming import natural_key
from microattention.datasets.macro import add_frames, class_order

NAME = "ckplus"
DISPLAY = "CK+"
# CK+ emotion codes.
CODES = {0: "neutral", 1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happiness",
         6: "sadness", 7: "surprise"}
DROPPED = ["contempt", "fear", "neutral"]
CLASSES = class_order(DROPPED)
LAST_FRAMES = 3


def index(root, opts, col):
    images = find_dir(root, ["cohn-kanade-images"], depth=2)
    labels = find_dir(root, ["Emotion"], depth=2)
    if images is None or labels is None:
        raise UserError("CK+: expected cohn-kanade-images/ and Emotion/ below %s "
                        "(cohn-kanade-images/S005/001/S005_001_00000011.png, "
                        "Emotion/S005/001/S005_001_00000011_emotion.txt)%s"
                        % (root, unreadable_below(root)))
    col.note("labels from %s, frames from %s; last %d frames of each sequence"
             % (col.relpath(labels), col.relpath(images), LAST_FRAMES))
    unlabelled = 0
    for subject in sorted(listdir(images), key=natural_key):
        subject_dir = os.path.join(images, subject)
        if not is_folder(subject_dir):
            continue
        for sequence in sorted(listdir(subject_dir), key=natural_key):
            folder = os.path.join(subject_dir, sequence)
            if not is_folder(folder):
                continue
            label_dir = os.path.join(labels, subject, sequence)
            files = sorted(f for f in listdir(label_dir) if f.endswith("_emotion.txt")) \
                if is_folder(label_dir) else []
            if not files:
                unlabelled += 1  # 266 of the 593 sequences carry no emotion label
                continue
            if len(files) > 1:
                col.saw_clip(subject, None)
                col.bad(subject, "%s_%s" % (subject, sequence), "several label files",
                        "%s holds %s" % (label_dir, ", ".join(files)))
                continue
            _sequence(col, subject, sequence, folder, os.path.join(label_dir, files[-1]))
    # Labels whose image folder is missing would otherwise go unnoticed.
    for subject in sorted(listdir(labels), key=natural_key):
        subject_dir = os.path.join(labels, subject)
        if not is_folder(subject_dir):
            continue
        for sequence in sorted(listdir(subject_dir), key=natural_key):
            if not is_folder(os.path.join(images, subject, sequence)):
                col.saw_clip(subject, None)
                col.bad(subject, sequence, "missing clip folder", "%s has a label but %s "
                        "does not exist" % (os.path.join(subject_dir, sequence),
                                            os.path.join(images, subject, sequence)))
    col.note("%d sequence(s) without an emotion label (not samples)" % unlabelled)


def read_label(path):
    """(label, None) or (None, problem) for an Emotion/..._emotion.txt file:
    exactly one number, written as CK+ does ('   3.0000000e+00') or plainly."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return None, "cannot read it: %s" % (exc.strerror or exc)
    try:
        words = data.decode("ascii").split()
    except UnicodeDecodeError:
        return None, "not a text file with one number 0-7"
    if len(words) != 1:
        return None, "expected one number 0-7, found %d word(s)" % len(words)
    try:
        value = float(words[0])
    except ValueError:
        return None, "expected one number 0-7, found %r" % words[0]
    if not value.is_integer() or int(value) not in CODES:
        return None, "emotion code %r is not one of 0-7" % words[0]
    return CODES[int(value)], None


def _sequence(col, subject, sequence, folder, label_file):
    clip = "%s_%s" % (subject, sequence)
    label, problem = read_label(label_file)
    if problem:
        col.saw_clip(subject, None)
        col.bad(subject, clip, "bad label file", "%s: %s" % (label_file, problem))
        return
    col.read_input(label_file)
    col.saw_clip(subject, label)
    if label in DROPPED:
        col.exclude(subject, clip, label, col.relpath(label_file))
        return
    names = col.frames(subject, clip, folder, needed=LAST_FRAMES)
    if names is None:
        return
    add_frames(col, subject, clip, label, folder, names[-LAST_FRAMES:], "last-frames",
               col.relpath(label_file))
