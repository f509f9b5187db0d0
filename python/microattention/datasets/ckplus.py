"""CK+: sequences go neutral -> peak; the last 3 frames of each sequence
labelled with one of the 5 classes (paper 4.1: 852 images).

Expected tree (ROOT = --root):
  ROOT/cohn-kanade-images/S005/001/S005_001_00000011.png
  ROOT/Emotion/S005/001/S005_001_00000011_emotion.txt   (one number, 0-7)
(either folder may sit one level deeper, as in some archives.)
"""
import os

from microattention.errors import UserError
from microattention.datasets.common import find_dir, natural_key, sorted_images
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
                           "Emotion/S005/001/S005_001_00000011_emotion.txt)" % root)
    col.note("labels from %s, frames from %s; last %d frames of each sequence"
             % (col.relpath(labels), col.relpath(images), LAST_FRAMES))
    unlabelled = 0
    for subject in sorted(os.listdir(images), key=natural_key):
        subject_dir = os.path.join(images, subject)
        if not os.path.isdir(subject_dir):
            continue
        for sequence in sorted(os.listdir(subject_dir), key=natural_key):
            folder = os.path.join(subject_dir, sequence)
            if not os.path.isdir(folder):
                continue
            label_dir = os.path.join(labels, subject, sequence)
            files = sorted(f for f in os.listdir(label_dir) if f.endswith("_emotion.txt")) \
                if os.path.isdir(label_dir) else []
            if not files:
                unlabelled += 1  # 266 of the 593 sequences carry no emotion label
                continue
            _sequence(col, subject, sequence, folder, os.path.join(label_dir, files[-1]))
    # Labels whose image folder is missing would otherwise go unnoticed.
    for subject in sorted(os.listdir(labels), key=natural_key):
        subject_dir = os.path.join(labels, subject)
        if not os.path.isdir(subject_dir):
            continue
        for sequence in sorted(os.listdir(subject_dir), key=natural_key):
            if not os.path.isdir(os.path.join(images, subject, sequence)):
                col.saw_clip(subject, None)
                col.bad(subject, sequence, "missing clip folder", "%s has a label but %s "
                        "does not exist" % (os.path.join(subject_dir, sequence),
                                            os.path.join(images, subject, sequence)))
    col.note("%d sequence(s) without an emotion label (not samples)" % unlabelled)


def _sequence(col, subject, sequence, folder, label_file):
    clip = "%s_%s" % (subject, sequence)
    try:
        with open(label_file) as handle:
            value = float(handle.read().split()[0])
        if not value.is_integer() or int(value) not in CODES:
            raise ValueError
        label = CODES[int(value)]
    except (ValueError, IndexError):
        col.saw_clip(subject, None)
        col.bad(subject, clip, "bad label file", "%s: expected one number 0-7" % label_file)
        return
    col.saw_clip(subject, label)
    if label in DROPPED:
        col.exclude(subject, clip, label, col.relpath(label_file))
        return
    names = sorted_images(folder)
    if len(names) < LAST_FRAMES:
        col.bad(subject, clip, "too few frames", "%s holds %d image(s), %d needed"
                % (folder, len(names), LAST_FRAMES))
        return
    add_frames(col, subject, clip, label, folder, names[-LAST_FRAMES:], "last-frames",
               col.relpath(label_file))
