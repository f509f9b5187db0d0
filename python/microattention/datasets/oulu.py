"""Oulu-CASIA NIR&VIS: VIS camera, strong (normal) illumination, the last 3
frames of each sequence (paper 4.1: 1200 images).

Expected tree (ROOT = --root):
  ROOT/OriginalImg/VL/Strong/P001/Anger/000.jpeg
  (VL = visible light, NI = near infrared; Strong, Weak, Dark illumination;
  ROOT may also be the OriginalImg folder itself.)
"""
import os
import re

from microattention.errors import UserError
from microattention.datasets.files import find_dir, is_folder, listdir, unreadable_below
from microattention.naming import natural_key
from microattention.datasets.macro import add_frames, class_order

NAME = "oulu"
DISPLAY = "Oulu-CASIA"
EXPRESSIONS = {"anger": "anger", "disgust": "disgust", "fear": "fear",
               "happiness": "happiness", "happy": "happiness", "sadness": "sadness",
               "sad": "sadness", "surprise": "surprise"}
DROPPED = ["fear"]
CLASSES = class_order(DROPPED)
CAMERAS = {"vis": ["VL", "VIS"], "nir": ["NI", "NIR"]}
LAST_FRAMES = 3


def index(root, opts, col):
    camera = opts.camera or "vis"
    if camera not in CAMERAS:
        raise UserError("Oulu-CASIA: --camera must be vis or nir (got %r)" % camera)
    illumination = opts.illumination
    camera_dir = find_dir(root, CAMERAS[camera], depth=2)
    if camera_dir is None:
        raise UserError("Oulu-CASIA: no %s folder below %s; expected "
                        "OriginalImg/VL/Strong/P001/Anger/000.jpeg%s"
                        % (CAMERAS[camera][0], root, unreadable_below(root)))
    base = find_dir(camera_dir, [illumination], depth=1)
    if base is None:
        raise UserError("Oulu-CASIA: no %s folder in %s%s" % (
            illumination.capitalize(), camera_dir, unreadable_below(camera_dir, 1)))
    col.note("%s, last %d frames of each sequence" % (col.relpath(base), LAST_FRAMES))
    subjects = sorted((d for d in listdir(base) if re.fullmatch(r"(?i)p\d+", d)
                       and is_folder(os.path.join(base, d))), key=natural_key)
    if not subjects:
        raise UserError("Oulu-CASIA: no subject folders (P001, ...) in %s" % base)
    for subject in subjects:
        for expression in sorted(listdir(os.path.join(base, subject))):
            folder = os.path.join(base, subject, expression)
            if not is_folder(folder):
                continue
            clip = "%s_%s" % (subject, expression)
            label = EXPRESSIONS.get(expression.lower())
            if col.labelled(subject, clip, label, folder, DROPPED):
                names = col.frames(subject, clip, folder, needed=LAST_FRAMES)
                if names is None:
                    continue
                add_frames(col, subject, clip, label, folder, names[-LAST_FRAMES:],
                           "last-frames", None)
