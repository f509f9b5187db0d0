"""JAFFE: single posed images named SUBJECT.EXPRESSIONindex.id.tiff; the
images of the 5 classes are used (paper 4.1: 151 images).

Expected tree (ROOT = --root):
  ROOT/KA.AN1.39.tiff   (or ROOT/jaffe/KA.AN1.39.tiff)
Codes: AN anger, DI disgust, FE fear, HA happiness, NE neutral, SA sadness,
SU surprise.
"""
import os
import re

from microattention.errors import UserError
from microattention.datasets.files import (find_dir, is_folder, is_image, listdir,
                                           unreadable_below)
from microattention.naming import natural_key
from microattention.datasets.macro import class_order

NAME = "jaffe"
DISPLAY = "JAFFE"
CODES = {"AN": "anger", "DI": "disgust", "FE": "fear", "HA": "happiness", "NE": "neutral",
         "SA": "sadness", "SU": "surprise"}
DROPPED = ["fear", "neutral"]
CLASSES = class_order(DROPPED)
PATTERN = re.compile(r"^([A-Za-z]{2})\.([A-Za-z]{2})(\d+)\.(\d+)\.tiff?$")


def index(root, opts, col):
    folder = root
    if not any(PATTERN.match(n) for n in listdir(root)):
        folder = find_dir(root, ["jaffe", "jaffedbase"], depth=2)
        if folder is None:
            raise UserError("JAFFE: no images named like KA.AN1.39.tiff in %s%s"
                            % (root, unreadable_below(root)))
    col.note("images from %s" % col.relpath(folder))
    for name in sorted(listdir(folder), key=natural_key):
        path = os.path.join(folder, name)
        if is_folder(path) or name.startswith("."):
            continue
        match = PATTERN.match(name)
        if not match:
            if is_image(name):
                col.saw_clip("?", None)
                col.bad("?", name, "unexpected file name", "%s (expected like KA.AN1.39.tiff)"
                        % path)
            continue  # README and other non-image files
        subject, code = match.group(1).upper(), match.group(2).upper()
        clip = os.path.splitext(name)[0]
        label = CODES.get(code)
        col.saw_clip(subject, label)
        if label is None:
            col.bad(subject, clip, "unknown expression code", "%s: %r" % (path, code))
        elif label in DROPPED:
            col.exclude(subject, clip, label, name)
        elif col.usable_image(subject, clip, path):
            col.add_row(subject=subject, clip=clip, label=label, frame=int(match.group(4)),
                        apex_source="single-image", frame_path=col.relpath(path),
                        class_source="file-name", source=name)
